"""Jobs writing to Microsoft Entra ID through every service, against the tests' Graph
(tests/graph_server/): CSV → users with generated passwords mailed sealed, managers and
group memberships; a run that writes nothing; members changed; a leaver deleted and,
back, restored from deleted items."""

from __future__ import annotations

import csv
from collections.abc import Iterator
from pathlib import Path

import pytest

from schemas.events import RunPasswordsSealed, encode_event
from services.cli.client import Session
from services.common.settings import Settings
from tests.graph_server import Tenant

from .conftest import RunServices
from .entra_helpers import connection_toml
from .ldap_helpers import define
from .mailbox import Mailbox, with_mail
from .test_ldap_jobs import run
from .test_notify import notifier_done
from .test_notify_passwords import public_key

HELPDESK = "helpdesk@example.org"
RESOLVE = '{ type = "user", by = "employeeId" }'


def job_toml() -> str:
    return f"""id = "hr-to-entra"
source = {{ connection = "hr", file = "people.csv" }}
destination = {{ connection = "cloud" }}
notify = [{{ recipients = ["{HELPDESK}"], trigger = "password" }}]

[[objects]]
type = "user"
keys = ["employeeId"]
on_destination_only = "delete"
fields = [
  {{ to = "employeeId", from = "employee_id" }},
  {{ to = "userPrincipalName", from = "upn" }},
  {{ to = "displayName", from = "name" }},
  {{ to = "department" }},
  {{ to = "manager", from = "boss", resolve = {RESOLVE} }},
  {{ to = "passwordProfile.password", transform = {{ password = 16 }} }},
]

[[objects]]
type = "group"
keys = ["displayName"]
source = {{ file = "groups.csv" }}
destination = {{ object_classes = ["group"] }}
fields = [
  {{ to = "displayName", from = "group" }},
  {{ to = "members", from = "members", delimiter = "|", resolve = {RESOLVE} }},
]
"""


def write(path: Path, rows: list[dict[str, str]]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", newline="", encoding="utf-8") as out:
        writer = csv.DictWriter(out, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)


@pytest.fixture
def mailbox() -> Iterator[Mailbox]:
    box = Mailbox()
    box.start()
    yield box
    box.stop()


@pytest.fixture
def settings(settings: Settings, mailbox: Mailbox) -> Settings:
    return with_mail(settings, mailbox)


def people(tenant: Tenant, count: int) -> list[dict[str, str]]:
    return [
        {
            "employee_id": f"E{i}",
            "upn": f"person{i}@{tenant.domain}",
            "name": f"Person {i}",
            "department": "Sales" if i % 2 else "Research",
            "boss": "" if i == 0 else "E0",
        }
        for i in range(count)
    ]


async def test_csv_to_entra_users_passwords_mailed_managers_groups_leavers_restored(
    graph_tenant: Tenant,
    tmp_path: Path,
    session: Session,
    services: RunServices,
    mailbox: Mailbox,
) -> None:
    folder = tmp_path / "job"
    hr = """[hr]\nprovider = "csv"\ndirectory = "data"\n\n"""
    job = await define(session, folder, hr + connection_toml(folder, graph_tenant), job_toml())
    rows = people(graph_tenant, 6)
    groups = [
        {"group": "Team", "members": "E1|E2|E3"},
        {"group": "Everyone", "members": "|".join(r["employee_id"] for r in rows)},
    ]
    write(folder / "data" / "people.csv", rows)
    write(folder / "data" / "groups.csv", groups)
    async with services():
        await public_key(session)
        first = await run(session, job)
        assert (first.stats.created, first.stats.failed) == (8, 0), first
        await notifier_done(session)
        journal = await session.journal()

        users = graph_tenant.users("employeeId")
        assert sorted(users) == [f"E{i}" for i in range(6)]
        boss = users["E0"]["id"]
        assert all(users[f"E{i}"]["_manager"] == boss for i in range(1, 6))
        assert "_manager" not in users["E0"]
        assert all(u["accountEnabled"] is True for u in users.values())
        found = {g["displayName"]: g for g in graph_tenant.objects()["group"]}
        assert sorted(found["Team"]["_members"]) == sorted(users[f"E{i}"]["id"] for i in (1, 2, 3))
        assert len(found["Everyone"]["_members"]) == 6
        assert found["Team"]["securityEnabled"] is True

        # Each new user's password, as Entra holds it, mailed to the helpdesk alone, sealed
        # on its way: in clear in no event.
        (mail,) = mailbox.to(HELPDESK)
        text = mail.message.get_body(("plain",)).get_content()  # type: ignore[union-attr]
        for key, held in users.items():
            assert f"{key}  passwordProfile.password  {held['_password']}" in text
        sealed = [e for e in journal if isinstance(e, RunPasswordsSealed)]
        assert sum(len(e.passwords) for e in sealed) == 6
        events = b"".join(encode_event(e) for e in journal)
        assert not any(u["_password"].encode() in events for u in users.values())

        again = await run(session, job)
        assert (again.stats.written, again.stats.failed) == (0, 0), again
        writes = graph_tenant.stats()["writes"]

        groups[0]["members"] = "E2|E3|E4"  # E1 leaves the team, E4 joins
        rows[3]["department"] = "Legal"
        leaver = rows.pop(5)
        groups[1]["members"] = "|".join(r["employee_id"] for r in rows)
        write(folder / "data" / "people.csv", rows)
        write(folder / "data" / "groups.csv", groups)
        changed = await run(session, job)
        assert (changed.stats.updated, changed.stats.deleted, changed.stats.failed) == (3, 1, 0)
        users = graph_tenant.users("employeeId")
        assert "E5" not in users and users["E3"]["department"] == "Legal"
        found = {g["displayName"]: g for g in graph_tenant.objects()["group"]}
        assert sorted(found["Team"]["_members"]) == sorted(users[f"E{i}"]["id"] for i in (2, 3, 4))
        deleted = {u["employeeId"]: u for u in graph_tenant.objects()["deleted"]}
        assert deleted["E5"]["userPrincipalName"].endswith(leaver["upn"])
        # Only what changed was written: three updates (a user and two groups' members:
        # one add and one remove in Team, one remove in Everyone) and one delete.
        assert graph_tenant.stats()["writes"] - writes == 1 + 2 + 1 + 1

        rows.append(leaver)  # back within the month: the same account, restored
        write(folder / "data" / "people.csv", rows)
        back = await run(session, job)
        assert (back.stats.created, back.stats.failed) == (1, 0)
        returned = graph_tenant.users("employeeId")["E5"]
        assert returned["id"] == deleted["E5"]["id"]
        assert returned["userPrincipalName"] == leaver["upn"]
        assert returned["_manager"] == boss
