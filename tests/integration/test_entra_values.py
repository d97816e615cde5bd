"""Values written to Entra ID read back as what the plan compares: a re-run that finds
nothing changed writes nothing (a date given with its offset, booleans however spelled)."""

from __future__ import annotations

from pathlib import Path

from services.cli.client import Session
from tests.graph_server import Tenant

from .conftest import RunServices
from .entra_helpers import connection_toml
from .ldap_helpers import define
from .test_entra_jobs import write
from .test_ldap_jobs import run

JOB = """id = "hr-to-entra-values"
source = { connection = "hr", file = "people.csv" }
destination = { connection = "cloud" }

[[objects]]
type = "user"
keys = ["employeeId"]
fields = [
  { to = "employeeId", from = "employee_id" },
  { to = "userPrincipalName", from = "upn" },
  { to = "displayName", from = "name" },
  { to = "accountEnabled", from = "enabled" },
  { to = "employeeHireDate", from = "hired" },
]
"""


async def test_a_hire_date_with_its_offset_is_written_as_that_instant_and_not_again(
    graph_tenant: Tenant, tmp_path: Path, session: Session, services: RunServices
) -> None:
    folder = tmp_path / "job"
    connections = '[hr]\nprovider = "csv"\ndirectory = "data"\n\n'
    job = await define(session, folder, connections + connection_toml(folder, graph_tenant), JOB)
    domain = graph_tenant.domain
    hired = ["2024-03-01T10:00:00+02:00", "2024-03-01T23:30:00-05:00", "2024-03-01 09:00+0000"]
    people = [
        {
            "employee_id": f"E{n}",
            "upn": f"e{n}@{domain}",
            "name": f"Person {n}",
            "enabled": ["TRUE", "yes", "1"][n],
            "hired": date,
        }
        for n, date in enumerate(hired)
    ]
    write(folder / "data" / "people.csv", people)
    async with services():
        first = await run(session, job)
        assert (first.stats.created, first.stats.failed) == (3, 0), first.stats
        users = graph_tenant.users("employeeId")
        assert [users[f"E{n}"]["employeeHireDate"] for n in range(3)] == [
            "2024-03-01T08:00:00Z",
            "2024-03-02T04:30:00Z",
            "2024-03-01T09:00:00Z",
        ]
        again = await run(session, job)
        assert (again.stats.written, again.stats.unchanged) == (0, 3), again.stats
