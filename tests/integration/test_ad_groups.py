"""Users with managers and groups with members in one job, CSV → the real Samba DC,
through every service: references resolved against the planned state (a manager or a
member created in the same run is found), then members changed by value."""

from __future__ import annotations

from pathlib import Path

from services.cli.client import Session
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
