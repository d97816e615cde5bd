"""Users with managers and groups with members in one job, CSV → the real Samba DC,
through every service: references resolved against the planned state (a manager or a
member created in the same run is found), then members changed by value."""

from __future__ import annotations

from pathlib import Path

from schemas.events import RunFinished
from services.cli.client import Session
from services.cli.watch import follow_run
from tests.ad_server import Samba, sam

from .conftest import RunServices
from .test_ad_jobs import accounts, apply, write
from .test_ldap_jobs import run

RESOLVE = '{ type = "user", by = "sAMAccountName" }'


def job_toml(base: str) -> str:
    return f"""id = "hr-to-ad-groups"
source = {{ connection = "hr", file = "people.csv" }}
destination = {{ connection = "corp", container = "{base}" }}

[[objects]]
type = "user"
keys = ["sAMAccountName"]
destination = {{ object_classes = ["user"] }}
fields = [
  {{ to = "sAMAccountName", from = "login" }},
  {{ to = "cn", from = "name" }},
  {{ to = "manager", from = "boss", resolve = {RESOLVE} }},
  {{ to = "unicodePwd", transform = {{ password = 16, ad_complexity = true }} }},
]

[[objects]]
type = "group"
keys = ["cn"]
source = {{ file = "groups.csv" }}
destination = {{ object_classes = ["group"] }}
fields = [
  {{ to = "cn", from = "group" }},
  {{ to = "groupType", from = "kind" }},
  {{ to = "member", from = "members", delimiter = "|", resolve = {RESOLVE} }},
]
"""


async def test_users_managers_and_group_members_resolved_in_one_run(
    samba: Samba, ad_base: str, tmp_path: Path, session: Session, services: RunServices
) -> None:
    folder = tmp_path / "job"
    users = [
        {"login": sam(f"m{i}"), "name": f"Member {i}", "boss": "" if i == 0 else sam("m0")}
        for i in range(8)
    ]
    groups = [
        {
            "group": "Team",
            "kind": "global security",
            "members": "|".join(sam(f"m{i}") for i in (1, 2, 3)),
        },
        {
            "group": "All",
            "kind": "universal distribution",
            "members": "|".join(sam(f"m{i}") for i in range(8)),
        },
    ]
    write(folder / "data" / "people.csv", users)
    write(folder / "data" / "groups.csv", groups)
    job = await apply(session, folder, job_toml(ad_base))
    async with services():
        first = await run(session, job)
        assert (first.stats.created, first.stats.failed) == (10, 0)
        people = accounts(samba, ad_base)
        boss = people[sam("m0")]["dn"]
        assert people[sam("m5")]["manager"].lower() == boss.lower()
        assert people[sam("m5")]["userAccountControl"] == 512
        found = accounts(samba, ad_base, "(objectClass=group)", "cn")
        assert sorted(dn.lower() for dn in found["Team"]["member"]) == sorted(
            people[sam(f"m{i}")]["dn"].lower() for i in (1, 2, 3)
        )
        assert len(found["All"]["member"]) == 8
        assert (await run(session, job)).stats.written == 0

        groups[0]["members"] = f"{sam('m1')}|{sam('m4')}"
        write(folder / "data" / "groups.csv", groups)
        changed = await run(session, job)
        assert (changed.stats.updated, changed.stats.failed) == (1, 0)
        found = accounts(samba, ad_base, "(objectClass=group)", "cn")
        assert sorted(dn.lower() for dn in found["Team"]["member"]) == sorted(
            people[sam(f"m{i}")]["dn"].lower() for i in (1, 4)
        )
        assert (await run(session, job)).stats.written == 0


async def test_members_and_managers_named_in_another_case_are_the_accounts_ad_holds_so(
    samba: Samba, ad_base: str, tmp_path: Path, session: Session, services: RunServices
) -> None:
    """AD compares sAMAccountName without case, though the job's keys compare with case:
    a member or a manager named in capitals is the account, as AD has it."""
    folder = tmp_path / "job"
    users = [
        {"login": sam(f"c{i}"), "name": f"Cased {i}", "boss": "" if i == 0 else sam("c0").upper()}
        for i in range(3)
    ]
    members = "|".join(sam(f"c{i}").upper() for i in range(3))
    write(folder / "data" / "people.csv", users)
    write(
        folder / "data" / "groups.csv",
        [{"group": "Cased", "kind": "global security", "members": members}],
    )
    job = await apply(session, folder, job_toml(ad_base))
    async with services():
        first = await run(session, job)
        assert (first.stats.created, first.stats.failed) == (4, 0), first.stats
        people = accounts(samba, ad_base)
        boss = people[sam("c0")]["dn"]
        assert people[sam("c2")]["manager"].lower() == boss.lower()
        found = accounts(samba, ad_base, "(objectClass=group)", "cn")
        assert sorted(dn.lower() for dn in found["Cased"]["member"]) == sorted(
            people[sam(f"c{i}")]["dn"].lower() for i in range(3)
        )
        assert (await run(session, job)).stats.written == 0


MOVES_JOB = """id = "hr-to-ad-moves"
source = {{ connection = "hr", file = "people.csv" }}
destination = {{ connection = "corp", container = "{base}" }}
changes = {{ field = "modified_at" }}

[[objects]]
type = "user"
keys = ["sAMAccountName"]
container_from = "ou"
destination = {{ object_classes = ["user"] }}
fields = [
  {{ to = "sAMAccountName", from = "login" }},
  {{ to = "cn", from = "name" }},
  {{ to = "unicodePwd", transform = {{ password = 16, ad_complexity = true }} }},
]

[[objects]]
type = "group"
keys = ["cn"]
source = {{ file = "groups.csv" }}
destination = {{ object_classes = ["group"] }}
fields = [
  {{ to = "cn", from = "group" }},
  {{ to = "groupType", from = "kind" }},
  {{ to = "member", from = "members", delimiter = "|", resolve = {resolve} }},
]
"""


async def test_members_moved_or_renamed_in_the_run_that_lists_them(
    samba: Samba, ad_base: str, tmp_path: Path, session: Session, services: RunServices
) -> None:
    """The DC refuses a member DN that names no entry: a member moved to another OU or
    renamed in the same run as its group lists it is written under its new DN, in a
    whole run, a run of some keys and a run of the changed records alone."""
    folder = tmp_path / "job"
    sales, it = f"OU=Sales,{ad_base}", f"OU=IT,{ad_base}"
    samba.add_ou(sales)
    samba.add_ou(it)
    day1 = "2026-11-01T00:00:00Z"
    users = [
        {"login": sam(f"v{i}"), "name": f"Mover {i}", "ou": sales, "modified_at": day1}
        for i in range(4)
    ]
    team = {"group": "Movers", "kind": "global security", "members": sam("v0")}
    team["modified_at"] = day1
    write(folder / "data" / "people.csv", users)
    write(folder / "data" / "groups.csv", [team])
    job = await apply(session, folder, MOVES_JOB.format(base=ad_base, resolve=RESOLVE))

    def members(group: str = "Movers") -> list[str]:
        found = accounts(samba, ad_base, "(objectClass=group)", "cn")[group]
        people = {p["dn"].lower(): login for login, p in accounts(samba, ad_base).items()}
        return sorted(people.get(dn.lower(), dn) for dn in found.get("member", []))

    def dn_of(login: str) -> str:
        return str(accounts(samba, ad_base)[login]["dn"]).lower()

    async with services():
        first = await run(session, job)
        assert (first.stats.created, first.stats.failed) == (5, 0)
        assert members() == [sam("v0")]

        # Whole run: v0 (a member) moves, v1 moves and joins, v2 is renamed and joins; a
        # new group lists v1 and v2 (named once moved and renamed: after the objects phase).
        users[0]["ou"] = it
        users[1]["ou"] = it
        users[2]["name"] = "Mover Two Renamed"
        team["members"] = "|".join(sam(f"v{i}") for i in (0, 1, 2))
        new = {**team, "group": "Newcomers", "members": f"{sam('v1')}|{sam('v2')}"}
        write(folder / "data" / "people.csv", users)
        write(folder / "data" / "groups.csv", [team, new])
        whole = await run(session, job)
        assert (whole.stats.moved, whole.stats.created, whole.stats.failed) == (2, 1, 0)
        assert members() == sorted(sam(f"v{i}") for i in (0, 1, 2))
        assert members("Newcomers") == [sam("v1"), sam("v2")]
        assert dn_of(sam("v1")) == f"cn=mover 1,{it}".lower()
        assert dn_of(sam("v2")) == f"cn=mover two renamed,{sales}".lower()
        assert (await run(session, job)).stats.written == 0

        # A run of one key: v1 moves back, its group outside the run follows it.
        users[1]["ou"] = sales
        write(folder / "data" / "people.csv", users)
        _, keyed = await follow_run(session, job, [sam("v1")])
        assert isinstance(keyed, RunFinished) and keyed.stats.failed == 0, keyed
        assert dn_of(sam("v1")) == f"cn=mover 1,{sales}".lower()
        assert members() == sorted(sam(f"v{i}") for i in (0, 1, 2))

        # The changed records alone: v3 moves and joins, v2 is moved and renamed.
        day2 = "2026-11-02T00:00:00Z"
        users[3].update(ou=it, modified_at=day2)
        users[2].update(ou=it, name="Mover Two Again", modified_at=day2)
        team.update(members="|".join(sam(f"v{i}") for i in range(4)), modified_at=day2)
        write(folder / "data" / "people.csv", users)
        write(folder / "data" / "groups.csv", [team, new])
        _, changed = await follow_run(session, job, None, changed_only=True)
        assert isinstance(changed, RunFinished), changed
        assert (changed.stats.moved, changed.stats.failed) == (2, 0), changed.stats
        assert dn_of(sam("v2")) == f"cn=mover two again,{it}".lower()
        assert members() == sorted(sam(f"v{i}") for i in range(4))
        # Newcomers did not change: not read, it follows v2 all the same.
        assert members("Newcomers") == [sam("v1"), sam("v2")]
        assert (await run(session, job)).stats.written == 0
