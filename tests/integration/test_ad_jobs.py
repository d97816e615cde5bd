"""Jobs with an Active Directory side through every service, on a real nats-server and a
real Samba AD DC: CSV → AD (users with generated passwords, contacts, groups with
members), a run writing nothing, updates, leavers disabled and moved, an account a
broken run left unfinished; AD → SQLite; OpenLDAP → AD contacts."""

from __future__ import annotations

import csv
import sqlite3
from pathlib import Path
from typing import Any

from services.cli.client import Session
from services.common.people import people
from services.runner.planning import open_sides, plan_job
from tests.ad_server import ADMIN, ADMIN_PASSWORD, URL, Samba, sam
from tests.ldap_server import ADMIN_PASSWORD as SLAPD_PASSWORD
from tests.ldap_server import Slapd

from .conftest import RunServices
from .ldap_helpers import define
from .test_ldap_jobs import run


def connections_toml(folder: Path, slapd_url: str) -> str:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "ad-password").write_text(ADMIN_PASSWORD + "\n")
    (folder / "ldap-password").write_text(SLAPD_PASSWORD + "\n")
    return f"""\
[hr]
provider = "csv"
directory = "data"

[corp]
provider = "ad"
urls = ["{URL}"]
bind_dn = "{ADMIN}"
password = {{ file = "{folder / "ad-password"}" }}
verify = false      # the test DC's certificate is self-signed

[db]
provider = "sqlite"
path = "data/directory.db"

[dir]
provider = "ldap"
urls = ["{slapd_url}"]
bind_dn = "cn=admin,dc=example,dc=org"
password = {{ file = "{folder / "ldap-password"}" }}
"""


async def apply(session: Session, folder: Path, job: str, slapd_url: str = "ldap://x") -> str:
    return await define(session, folder, connections_toml(folder, slapd_url), job)


def write(path: Path, rows: list[dict[str, str]]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", newline="", encoding="utf-8") as out:
        writer = csv.DictWriter(out, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)


def accounts(
    samba: Samba, base: str, flt: str = "(objectClass=user)", by: str = "sAMAccountName"
) -> dict[str, dict[str, Any]]:
    """`by`'s value → the attributes (and dn) of each object below `base`."""
    with samba.connection() as conn:
        conn.search(base, flt, attributes=["*", "userAccountControl", "pwdLastSet"])
        assert conn.response is not None, conn.result
        return {str(e["attributes"][by]): dict(e["attributes"], dn=e["dn"]) for e in conn.response}


USERS_JOB = """id = "hr-to-ad"
source = {{ connection = "hr", file = "people.csv" }}
destination = {{ connection = "corp", container = "{base}" }}
[[objects]]
keys = ["sAMAccountName"]
container = "OU=People,{base}"
on_destination_only = "disable"
move_to = "OU=Disabled,{base}"
restore = true
fields = [
  {{ to = "sAMAccountName", from = "login" }},
  {{ to = "userPrincipalName", from = "upn" }},
  {{ to = "cn", from = "display" }},
  {{ to = "displayName", from = "display" }},
  {{ to = "givenName", from = "first_name" }},
  {{ to = "sn", from = "last_name" }},
  {{ to = "mail", from = "email" }},
  {{ to = "department" }},
  {{ to = "unicodePwd", transform = {{ password = 16, ad_complexity = true }} }},
]
"""


def hr_rows(count: int) -> list[dict[str, str]]:
    rows = []
    for row in people(count):
        login = sam(row["employee_id"].lower())
        display = f"{row['first_name']} {row['last_name']} ({login})"
        rows.append({**row, "login": login, "upn": f"{login}@example.test", "display": display})
    return rows


async def test_csv_to_ad_users_passwords_updates_no_change_leavers_disabled_moved_restored(
    samba: Samba, ad_base: str, tmp_path: Path, session: Session, services: RunServices
) -> None:
    folder = tmp_path / "job"
    samba.add_ou(f"OU=People,{ad_base}")
    # In the job's scope, so that a leaver who comes back is found and restored.
    samba.add_ou(f"OU=Disabled,{ad_base}")
    job = await apply(session, folder, USERS_JOB.format(base=ad_base))
    rows = hr_rows(40)
    write(folder / "data" / "people.csv", rows)
    async with services():
        first = await run(session, job)
        assert (first.stats.created, first.stats.failed) == (40, 0)
        found = accounts(samba, ad_base)
        ann = found[rows[3]["login"]]
        assert ann["userPrincipalName"] == rows[3]["upn"]
        assert ann["userAccountControl"] == 512  # enabled: its generated password was set
        assert ann["pwdLastSet"].year > 2000

        usns = {k: v["uSNChanged"] for k, v in accounts(samba, ad_base).items()}
        again = await run(session, job)
        assert (again.stats.written, again.stats.unchanged) == (0, 40)
        assert {k: v["uSNChanged"] for k, v in accounts(samba, ad_base).items()} == usns

        for row in rows[:3]:
            row["department"] = "Elsewhere"
        write(folder / "data" / "people.csv", rows[:-2])
        changed = await run(session, job)
        assert (changed.stats.updated, changed.stats.disabled, changed.stats.failed) == (3, 2, 0)
        found = accounts(samba, ad_base)
        assert found[rows[0]["login"]]["department"] == "Elsewhere"
        for leaver in rows[-2:]:
            gone = found[leaver["login"]]
            assert gone["userAccountControl"] == 514
            assert gone["dn"].lower().endswith(f"ou=disabled,{ad_base}".lower())
        assert (await run(session, job)).stats.written == 0

        write(folder / "data" / "people.csv", rows[:-1])  # a leaver comes back
        back = await run(session, job)
        assert (back.stats.enabled, back.stats.failed) == (1, 0)
        returned = accounts(samba, ad_base)[rows[-2]["login"]]
        assert returned["userAccountControl"] == 512
        assert returned["dn"].lower().endswith(f"ou=people,{ad_base}".lower())


async def test_an_account_a_broken_run_left_unfinished_is_previewed_and_finished_by_the_next(
    samba: Samba, ad_base: str, tmp_path: Path, session: Session, services: RunServices
) -> None:
    folder = tmp_path / "job"
    samba.add_ou(f"OU=People,{ad_base}")
    samba.add_ou(f"OU=Disabled,{ad_base}")
    job = await apply(session, folder, USERS_JOB.format(base=ad_base))
    rows = hr_rows(3)
    write(folder / "data" / "people.csv", rows)
    husk = rows[1]  # what a create cut after its add leaves: the add's values, no password
    with samba.connection() as conn:
        values = {
            "sAMAccountName": husk["login"],
            "userPrincipalName": husk["upn"],
            "displayName": husk["display"],
            "givenName": husk["first_name"],
            "sn": husk["last_name"],
            "mail": husk["email"],
            "department": husk["department"],
        }
        assert conn.add(f"CN={husk['display']},OU=People,{ad_base}", ["user"], values)
    left = accounts(samba, ad_base)[husk["login"]]
    assert (left["userAccountControl"], left["pwdLastSet"].year) == (546, 1601)

    async with open_sides(session.store, await session.store.job(job)) as sides:
        preview = (await plan_job(await session.store.job(job), sides)).plan.counts
    assert (preview.create, preview.unchanged) == (3, 0)

    async with services():
        first = await run(session, job)
        assert (first.stats.created, first.stats.failed) == (3, 0)
        finished = accounts(samba, ad_base)[husk["login"]]
        assert finished["objectGUID"] == left["objectGUID"]  # the same account, finished
        assert finished["userAccountControl"] == 512
        assert finished["pwdLastSet"].year > 2000  # its generated password was set
        assert (await run(session, job)).stats.written == 0


async def test_contacts_and_groups_with_members_then_ad_to_sqlite(
    samba: Samba, ad_base: str, tmp_path: Path, session: Session, services: RunServices
) -> None:
    folder = tmp_path / "job"
    contacts = [
        {"id": f"c{i}", "name": f"Contact {i}", "mail": f"c{i}@example.org"} for i in range(5)
    ]
    members = "|".join(f"cn=Contact {i},{ad_base}" for i in range(3))
    groups = [
        {"name": "Staff", "kind": "global security", "members": members},
        {"name": "News", "kind": "universal distribution", "members": ""},
    ]
    write(folder / "data" / "contacts.csv", contacts)
    write(folder / "data" / "groups.csv", groups)
    to_contacts = await apply(
        session,
        folder,
        f"""id = "contacts"
source = {{ connection = "hr", file = "contacts.csv" }}
destination = {{ connection = "corp", container = "{ad_base}", object_classes = ["contact"] }}
[[objects]]
type = "contact"
keys = ["employeeID"]
fields = [{{ to = "employeeID", from = "id" }}, {{ to = "cn", from = "name" }}, {{ to = "mail" }}]
""",
    )
    to_groups = await apply(
        session,
        folder,
        f"""id = "groups"
source = {{ connection = "hr", file = "groups.csv" }}
destination = {{ connection = "corp", container = "{ad_base}", object_classes = ["group"] }}
[[objects]]
type = "group"
keys = ["cn"]
fields = [
  {{ to = "cn", from = "name" }}, {{ to = "groupType", from = "kind" }},
  {{ to = "member", from = "members", delimiter = "|" }},
]
""",
    )
    to_db = await apply(
        session,
        folder,
        f"""id = "ad-to-db"
source = {{ connection = "corp", container = "{ad_base}", object_classes = ["group"] }}
destination = {{ connection = "db", table = "groups" }}
[[objects]]
keys = ["guid"]
fields = [
  {{ to = "guid", from = "objectGUID" }}, {{ to = "sid", from = "objectSid" }},
  {{ to = "name", from = "cn" }}, {{ to = "kind", from = "groupType" }},
  {{ to = "members", from = "member", delimiter = "|" }},
]
""",
    )
    async with services():
        assert (await run(session, to_contacts)).stats.created == 5
        made = await run(session, to_groups)
        assert (made.stats.created, made.stats.failed) == (2, 0)
        assert (await run(session, to_groups)).stats.written == 0  # words read back as numbers
        found = accounts(samba, ad_base, "(objectClass=group)", "cn")
        assert found["Staff"]["groupType"] == -2147483646
        assert found["News"]["groupType"] == 8
        assert len(found["Staff"]["member"]) == 3

        copied = await run(session, to_db)
        assert (copied.stats.created, copied.stats.failed) == (2, 0)
        with sqlite3.connect(folder / "data" / "directory.db") as db:
            stored = {
                r[0]: r[1:] for r in db.execute("SELECT name, guid, sid, members FROM groups")
            }
        db.close()
        assert stored["Staff"][0] == str(found["Staff"]["objectGUID"]).strip("{}")
        assert str(stored["Staff"][1]).startswith("S-1-5-21-")
        assert len(str(stored["Staff"][2]).split("|")) == 3
        assert (await run(session, to_db)).stats.written == 0


async def test_openldap_people_become_ad_contacts(
    samba: Samba,
    ad_base: str,
    slapd: Slapd,
    ldap_base: str,
    tmp_path: Path,
    session: Session,
    services: RunServices,
) -> None:
    slapd.ldapadd(
        "".join(
            f"dn: uid=p{i},{ldap_base}\nobjectClass: inetOrgPerson\nuid: p{i}\n"
            f"cn: Person {i}\nsn: S{i}\nmail: p{i}@example.org\nemployeeNumber: {i}\n\n"
            for i in range(20)
        )
    )
    folder = tmp_path / "job"
    job = await apply(
        session,
        folder,
        f"""id = "ldap-to-ad"
source = {{ connection = "dir", container = "{ldap_base}", object_classes = ["inetOrgPerson"] }}
destination = {{ connection = "corp", container = "{ad_base}", object_classes = ["contact"] }}
[[objects]]
type = "contact"
keys = ["employeeID"]
fields = [
  {{ to = "employeeID", from = "uid" }}, {{ to = "cn" }}, {{ to = "sn" }}, {{ to = "mail" }},
]
""",
        slapd.url,
    )
    async with services():
        first = await run(session, job)
        assert (first.stats.created, first.stats.failed) == (20, 0)
        found = accounts(samba, ad_base, "(objectClass=contact)", "cn")
        assert found["Person 7"]["mail"] == "p7@example.org"
        assert found["Person 7"]["employeeID"] == "p7"
        assert (await run(session, job)).stats.written == 0
