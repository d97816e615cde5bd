"""Jobs with an LDAP side through every service over a real nats-server and a real slapd:
CSV → LDAP (create, no change, update, delete), LDAP → SQLite, LDAP → LDAP."""

from __future__ import annotations

import csv
import sqlite3
from pathlib import Path

from core.engine.containers import canonical_dn
from schemas.events import RunFinished
from schemas.values import Binary
from services.cli.client import Session
from services.cli.watch import follow_run
from services.common.people import people, write_csv
from tests.ldap_server import ADMIN_PASSWORD, OTHER_SUFFIX, Slapd

from .conftest import RunServices
from .ldap_helpers import USER, admin, connection, create, define, entries, provider

PERSON = "inetOrgPerson"
FIELDS = """fields = [
  { to = "uid", from = "employee_id" },
  { to = "givenName", from = "first_name" },
  { to = "sn", from = "last_name" },
  { to = "cn", transform = { join = ["first_name", "last_name"], separator = " " } },
  { to = "mail", from = "email" },
  { to = "departmentNumber", from = "department" },
  { to = "title" },
  { to = "businessCategory", from = "groups", delimiter = "|" },
]"""


def connections_toml(folder: Path, slapd: Slapd) -> str:
    folder.mkdir(parents=True, exist_ok=True)
    secret = folder / "ldap-password"
    secret.write_text(ADMIN_PASSWORD + "\n")
    return f"""\
[hr]
provider = "csv"
directory = "data"
delimiter = ";"

[dir]
provider = "ldap"
urls = ["{slapd.url}"]
bind_dn = "cn=admin,dc=example,dc=org"
password = {{ file = "{secret}" }}
page_size = 100

[other]
provider = "ldap"
urls = ["{slapd.url}"]
bind_dn = "cn=admin,{OTHER_SUFFIX}"
password = {{ file = "{secret}" }}

[db]
provider = "sqlite"
path = "data/directory.db"
"""


async def apply(session: Session, folder: Path, slapd: Slapd, job: str) -> str:
    return await define(session, folder, connections_toml(folder, slapd), job)


async def run(session: Session, job_id: str) -> RunFinished:
    _, end = await follow_run(session, job_id, None)
    assert isinstance(end, RunFinished), end
    return end


def stamps(slapd: Slapd, base: str) -> dict[str, str]:
    """DN → modifyTimestamp of every person below `base`: unchanged means not written."""
    with admin(slapd) as conn:
        found = conn.extend.standard.paged_search(
            base, "(objectClass=inetOrgPerson)", attributes=["modifyTimestamp"], paged_size=500
        )
        return {e["dn"]: str(e["raw_attributes"]["modifyTimestamp"]) for e in found}


async def test_csv_to_ldap_creates_updates_deletes_and_then_writes_nothing(
    slapd: Slapd, ldap_base: str, tmp_path: Path, session: Session, services: RunServices
) -> None:
    folder = tmp_path / "job"
    rows = people(1000)
    for row in rows:  # mail is IA5 (ASCII) text in LDAP; the made-up people have accents
        row["email"] = f"{row['employee_id'].lower()}@example.org"
    person = "inetOrgPerson"
    job = await apply(
        session,
        folder,
        slapd,
        f"""id = "hr-to-dir"
source = {{ connection = "hr", file = "people.csv" }}
destination = {{ connection = "dir", container = "{ldap_base}", object_classes = ["{person}"] }}
[[objects]]
keys = ["uid"]
on_destination_only = "delete"
{FIELDS}
""",
    )
    write_csv(folder / "data" / "people.csv", rows)
    async with services():
        first = await run(session, job)
        assert (first.stats.created, first.stats.failed) == (1000, 0)
        stored = entries(slapd, ldap_base)
        assert len(stored) == 1000
        sample = rows[17]
        entry = stored[f"uid={sample['employee_id']},{ldap_base}"]
        assert entry["cn"] == [f"{sample['first_name']} {sample['last_name']}".encode()]
        assert entry["businessCategory"] == [g.encode() for g in sample["groups"].split("|")]

        before = stamps(slapd, ldap_base)
        again = await run(session, job)
        assert (again.stats.written, again.stats.unchanged) == (0, 1000)
        assert stamps(slapd, ldap_base) == before

        for row in rows[:10]:
            row["department"] = "Moved elsewhere"
        rows[10]["groups"] = ""
        write_csv(folder / "data" / "people.csv", rows)
        updated = await run(session, job)
        assert (updated.stats.updated, updated.stats.written) == (11, 11)
        stored = entries(slapd, ldap_base)
        assert stored[f"uid={rows[0]['employee_id']},{ldap_base}"]["departmentNumber"] == [
            b"Moved elsewhere"
        ]
        assert "businessCategory" not in stored[f"uid={rows[10]['employee_id']},{ldap_base}"]

        side = await provider(connection(tmp_path, slapd.url), ldap_base, USER)
        await side.apply([create("stray", cn="Only here", sn="Here")])  # destination-only
        await side.close()
        gone = rows[-5:]
        write_csv(folder / "data" / "people.csv", rows[:-5])
        deleted = await run(session, job)
        assert (deleted.stats.deleted, deleted.stats.written) == (6, 6)
        stored = entries(slapd, ldap_base)
        assert len(stored) == 995
        assert not {f"uid={r['employee_id']},{ldap_base}" for r in gone} & set(stored)

        last = await run(session, job)
        assert (last.stats.written, last.stats.unchanged) == (0, 995)


async def test_ldap_to_sqlite_and_ldap_to_ldap(
    slapd: Slapd, ldap_base: str, tmp_path: Path, session: Session, services: RunServices
) -> None:
    photo = bytes(range(256))
    side = await provider(connection(tmp_path, slapd.url), ldap_base, USER)
    seeded = [
        create(
            f"u{i:03d}",
            cn=f"Person {i}",
            sn=f"S{i}",
            mail=f"p{i}@example.org",
            businessCategory=["staff", f"team-{i % 3}"],
        )
        for i in range(150)
    ]
    seeded[0] = create("u000", cn="Person 0", sn="S0", jpegPhoto=Binary(photo))
    assert [o.error for o in await side.apply(seeded)] == [None] * 150
    await side.close()

    folder = tmp_path / "jobs"
    job = await apply(
        session,
        folder,
        slapd,
        f"""id = "dir-to-db"
source = {{ connection = "dir", container = "{ldap_base}", object_classes = ["inetOrgPerson"] }}
destination = {{ connection = "db", table = "people" }}
[[objects]]
keys = ["login"]
fields = [
  {{ to = "login", from = "uid" }}, {{ to = "name", from = "cn" }}, {{ to = "mail" }},
  {{ to = "dn" }}, {{ to = "categories", from = "businessCategory", delimiter = "|" }},
  {{ to = "photo", from = "jpegPhoto" }},
]
""",
    )
    other = f"ou=copy-{ldap_base.split(',')[0][3:]},{OTHER_SUFFIX}"
    slapd.ldapadd(
        f"dn: {other}\nobjectClass: organizationalUnit\nou: {other.split(',')[0][3:]}\n",
        bind_dn=f"cn=admin,{OTHER_SUFFIX}",
    )
    copy = await apply(
        session,
        folder,
        slapd,
        f"""id = "dir-to-dir"
source = {{ connection = "dir", container = "{ldap_base}", object_classes = ["inetOrgPerson"] }}
destination = {{ connection = "other", container = "{other}", object_classes = ["inetOrgPerson"] }}
[[objects]]
keys = ["uid"]
fields = [
  {{ to = "uid" }}, {{ to = "cn" }}, {{ to = "sn" }}, {{ to = "mail" }},
  {{ to = "businessCategory", delimiter = "|" }}, {{ to = "jpegPhoto" }},
]
""",
    )
    async with services():
        to_db = await run(session, job)
        assert (to_db.stats.created, to_db.stats.failed) == (150, 0)
        with sqlite3.connect(folder / "data" / "directory.db") as db:
            db.row_factory = sqlite3.Row
            rows = {r["login"]: dict(r) for r in db.execute("SELECT * FROM people")}
        db.close()
        assert rows["u007"]["dn"] == f"uid=u007,{ldap_base}"
        assert rows["u007"]["categories"] == "staff|team-1"
        assert rows["u000"]["photo"] == photo
        assert (await run(session, job)).stats.written == 0

        copied = await run(session, copy)
        assert (copied.stats.created, copied.stats.failed) == (150, 0)
        target = entries(slapd, other)
        assert target[f"uid=u000,{other}"]["jpegPhoto"] == [photo]
        assert target[f"uid=u005,{other}"]["businessCategory"] == [b"staff", b"team-2"]
        assert (await run(session, copy)).stats.written == 0


async def test_a_leaver_moved_away_comes_back_where_new_entries_go(
    slapd: Slapd, ldap_base: str, tmp_path: Path, session: Session, services: RunServices
) -> None:
    """The job names no container of its own: a restore moves the entry back to the
    endpoint's base, where its creates go."""
    folder = tmp_path / "job"
    former, person = f"ou=former,{ldap_base}", "inetOrgPerson"
    with admin(slapd) as conn:
        assert conn.add(former, ["organizationalUnit"], {"ou": "former"})
    rows = people(5)
    for row in rows:
        row["email"] = f"{row['employee_id'].lower()}@example.org"
    job = await apply(
        session,
        folder,
        slapd,
        f"""id = "hr-to-dir"
source = {{ connection = "hr", file = "people.csv" }}
destination = {{ connection = "dir", container = "{ldap_base}", object_classes = ["{person}"] }}
safety = {{ max_percent = 100 }}
[[objects]]
keys = ["uid"]
on_destination_only = "move"
move_to = "{former}"
restore = true
{FIELDS}
""",
    )
    leaver = rows[0]["employee_id"]
    write_csv(folder / "data" / "people.csv", rows)
    async with services():
        assert (await run(session, job)).stats.created == 5
        write_csv(folder / "data" / "people.csv", rows[1:])
        assert (await run(session, job)).stats.moved == 1
        assert f"uid={leaver},{former}" in entries(slapd, ldap_base)
        write_csv(folder / "data" / "people.csv", rows)
        back = await run(session, job)
    assert (back.stats.moved, back.stats.failed) == (1, 0)
    assert f"uid={leaver},{ldap_base}" in entries(slapd, ldap_base)


async def test_an_entry_is_moved_to_the_container_its_record_now_names(
    slapd: Slapd, ldap_base: str, tmp_path: Path, session: Session, services: RunServices
) -> None:
    """`container_from`: entries are created in the container their record names and
    moved when it names another; the same container spelled another way moves nothing."""
    folder = tmp_path / "job"
    sales, it = f"ou=sales,{ldap_base}", f"ou=it,{ldap_base}"
    with admin(slapd) as conn:
        for ou in (sales, it):
            assert conn.add(ou, ["organizationalUnit"], {"ou": ou.split(",")[0][3:]})
    rows = people(3)
    for row in rows:
        row["email"] = f"{row['employee_id'].lower()}@example.org"
        row["ou"] = sales
    job = await apply(
        session,
        folder,
        slapd,
        f"""id = "hr-to-dir"
source = {{ connection = "hr", file = "people.csv" }}
destination = {{ connection = "dir", container = "{ldap_base}", object_classes = ["{PERSON}"] }}
[[objects]]
keys = ["uid"]
container_from = "ou"
{FIELDS}
""",
    )
    first, second, third = (row["employee_id"] for row in rows)

    def write(rows: list[dict[str, str]]) -> None:
        with (folder / "data" / "people.csv").open("w", newline="", encoding="utf-8") as out:
            writer = csv.DictWriter(out, fieldnames=list(rows[0]), delimiter=";")
            writer.writeheader()
            writer.writerows(rows)

    write(rows)
    async with services():
        assert (await run(session, job)).stats.created == 3
        assert {f"uid={uid},{sales}" for uid in (first, second, third)} <= set(
            entries(slapd, ldap_base)
        )
        rows[0]["ou"] = it.replace("ou=it", "OU=IT ").upper()  # elsewhere, in capitals
        rows[1]["ou"] = sales.replace(",", " , ").upper()  # where it is, spelled otherwise
        rows[2]["title"] = "Head of Sales"  # updated where it is
        write(rows)
        before = stamps(slapd, ldap_base)
        moved = await run(session, job)
        assert (moved.stats.moved, moved.stats.updated, moved.stats.failed) == (1, 1, 0)
        found = {canonical_dn(dn): entry for dn, entry in entries(slapd, ldap_base).items()}
        assert canonical_dn(f"uid={first},{it}") in found
        assert canonical_dn(f"uid={first},{sales}") not in found
        assert stamps(slapd, ldap_base)[f"uid={second},{sales}"] == before[f"uid={second},{sales}"]
        assert found[canonical_dn(f"uid={third},{sales}")]["title"] == [b"Head of Sales"]
        again = await run(session, job)
    assert again.stats.written == 0, again.stats
