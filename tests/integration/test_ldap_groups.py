"""Users, managers and groups with members in one job, CSV → a real slapd, through every
service: references resolved against the planned state, members matched and never
created, large groups changed by adding and removing values."""

from __future__ import annotations

import csv
from pathlib import Path

from schemas.plan import Change
from services.cli.client import Session
from services.providers.base import Layout
from services.providers.ldap import ber as w
from services.providers.ldap.stats import Counters
from tests.ldap_server import Slapd

from .conftest import RunServices
from .ldap_helpers import connection, entries, provider
from .test_ldap_jobs import apply, run


def member_field(base: str) -> str:
    resolve = f'{{ type = "user", by = "uid", placeholder = "cn=nobody,{base}" }}'
    return f'{{ to = "member", from = "members", delimiter = "|", resolve = {resolve} }}'


def job_toml(base: str) -> str:
    return f"""id = "hr-to-dir-groups"
source = {{ connection = "hr", file = "people.csv" }}
destination = {{ connection = "dir", container = "{base}" }}

[[objects]]
type = "user"
keys = ["uid"]
on_destination_only = "delete"
destination = {{ object_classes = ["inetOrgPerson"] }}
fields = [
  {{ to = "uid", from = "employee_id" }},
  {{ to = "cn", from = "name" }},
  {{ to = "sn", from = "name" }},
  {{ to = "manager", from = "manager_id", resolve = {{ type = "user", by = "uid" }} }},
]

[[objects]]
type = "group"
keys = ["cn"]
on_destination_only = "delete"
source = {{ file = "groups.csv" }}
destination = {{ object_classes = ["groupOfNames"] }}
fields = [
  {{ to = "cn", from = "group" }},
  {member_field(base)},
]
"""


def uid(n: int) -> str:
    return f"E{n:05d}"


def write(folder: Path, users: int, groups: dict[str, list[str]]) -> None:
    data = folder / "data"
    data.mkdir(parents=True, exist_ok=True)
    with (data / "people.csv").open("w", newline="") as out:
        rows = csv.writer(out, delimiter=";")
        rows.writerow(["employee_id", "name", "manager_id"])
        # Everyone's manager comes later in the file: found because the plan creates them.
        rows.writerows(
            [uid(n), f"Person {n}", uid(n // 10 + 500) if n < 500 else ""] for n in range(users)
        )
    with (data / "groups.csv").open("w", newline="") as out:
        rows = csv.writer(out, delimiter=";")
        rows.writerow(["group", "members"])
        rows.writerows([name, "|".join(members)] for name, members in groups.items())


def members(slapd: Slapd, base: str, group: str) -> set[str]:
    found = entries(slapd, base, "(objectClass=groupOfNames)")[f"cn={group},{base}"]
    return {value.decode().lower() for value in found["member"]}


def dns(base: str, *numbers: int) -> set[str]:
    return {f"uid={uid(n)},{base}".lower() for n in numbers}


async def test_users_managers_and_groups_with_members(
    slapd: Slapd, ldap_base: str, tmp_path: Path, session: Session, services: RunServices
) -> None:
    folder = tmp_path / "job"
    groups = {f"team-{t}": [uid(n) for n in range(t * 100, t * 100 + 100)] for t in range(10)}
    groups["team-0"].append("ghost")  # no such person: reported, never created
    write(folder, 1000, groups)
    job = await apply(session, folder, slapd, job_toml(ldap_base))
    async with services():
        first = await run(session, job)
        # team-0 is created without its ghost: one failed record, not also a created one.
        assert (first.stats.created, first.stats.failed) == (1009, 1)
        people = entries(slapd, ldap_base)
        assert len(people) == 1000
        assert people[f"uid={uid(42)},{ldap_base}"]["manager"] == [
            f"uid={uid(504)},{ldap_base}".encode()
        ]
        assert "manager" not in people[f"uid={uid(600)},{ldap_base}"]
        assert members(slapd, ldap_base, "team-3") == dns(ldap_base, *range(300, 400))
        assert members(slapd, ldap_base, "team-0") == dns(ldap_base, *range(100))  # no ghost

        again = await run(session, job)
        assert (again.stats.written, again.stats.failed) == (0, 1)  # the ghost, again

        groups["team-3"].remove(uid(350))
        groups["team-3"].append(uid(999))
        write(folder, 1000, groups)
        Counters.reset()
        changed = await run(session, job)
        assert (changed.stats.updated, changed.stats.written) == (1, 1)
        assert members(slapd, ldap_base, "team-3") == dns(ldap_base, *range(300, 400), 999) - dns(
            ldap_base, 350
        )
        assert Counters.requests[w.MODIFY] == 1
        assert Counters.sent[w.MODIFY] < 300  # one value added, one deleted: not the list


async def test_a_group_of_5000_members_changes_by_one_value(
    slapd: Slapd, ldap_base: str, tmp_path: Path, session: Session, services: RunServices
) -> None:
    folder = tmp_path / "job"
    groups = {"everyone": [uid(n) for n in range(5000)]}
    write(folder, 5001, groups)
    job = await apply(session, folder, slapd, job_toml(ldap_base))
    async with services():
        first = await run(session, job)
        assert (first.stats.created, first.stats.failed) == (5002, 0)
        assert len(members(slapd, ldap_base, "everyone")) == 5000

        groups["everyone"].append(uid(5000))
        write(folder, 5001, groups)
        Counters.reset()
        added = await run(session, job)
        assert added.stats.written == 1
        assert Counters.requests[w.MODIFY] == 1
        assert Counters.sent[w.MODIFY] < 300  # the list is ~200 KB
        assert len(members(slapd, ldap_base, "everyone")) == 5001

        groups["everyone"].remove(uid(0))
        write(folder, 5001, groups)
        removed = await run(session, job)
        assert removed.stats.written == 1
        assert members(slapd, ldap_base, "everyone") == dns(ldap_base, *range(1, 5001))


async def test_adding_a_value_there_and_deleting_one_gone_succeed_a_batch_delivered_again(
    slapd: Slapd, ldap_base: str, tmp_path: Path
) -> None:
    layout = Layout(keys=("cn",), multi_valued={"member": "|"})
    side = await provider(
        connection(tmp_path, slapd.url), ldap_base, layout, object_classes=["groupOfNames"]
    )
    a, b = f"uid=a,{ldap_base}", f"uid=b,{ldap_base}"
    create = Change(action="create", key="g", match={"cn": "g"}, set={"cn": "g", "member": [a]})
    change = Change(
        action="update", key="g", match={"cn": "g"}, add={"member": [b]}, remove={"member": [a]}
    )
    again = Change(
        action="update", key="g", match={"cn": "g"}, add={"member": [b]}, remove={"member": [a]}
    )
    assert [o.error for o in await side.apply([create, change, again])] == [None, None, None]
    await side.close()
    assert members(slapd, ldap_base, "g") == {b.lower()}
