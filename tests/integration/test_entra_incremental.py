"""Entra → SQLite by delta query, through every service: after a full run, an incremental
run follows Graph's delta link and sees exactly a change, a deletion (the deleted user's
last state, from deleted items, which the job's leavers delete) and a new user — all in
the side's $filter; a link Graph no longer knows makes the run a full run, which deletes
a user deleted meanwhile, and the run says so."""

from __future__ import annotations

import asyncio
import json
import sqlite3
import subprocess
from pathlib import Path

from schemas.events import RunFinished, RunPlanned
from services.cli.client import Session
from services.cli.watch import follow_run
from services.common.settings import Settings
from tests.graph_server import Tenant

from .conftest import IDSYNC, RunServices, env_for
from .entra_helpers import connection_toml, user
from .journal import events_of_run
from .ldap_helpers import define

JOB = """id = "entra-to-db"
source = { connection = "cloud", query = "department eq 'Sales'" }
destination = { connection = "db", table = "people" }
changes = {}      # Graph's delta links
[[objects]]
keys = ["employee_id"]
on_destination_only = "delete"
leavers = { when = { field = "deletedDateTime", empty = false }, action = "delete" }
fields = [
  { to = "employee_id", from = "employeeId" },
  { to = "name", from = "displayName" },
  { to = "upn", from = "userPrincipalName" },
]
"""


def table(folder: Path) -> dict[str, tuple[str, str]]:
    with sqlite3.connect(folder / "data" / "directory.db") as db:
        rows = db.execute("SELECT employee_id, name, upn FROM people").fetchall()
    db.close()
    return {key: (name, upn) for key, name, upn in rows}


async def idsync(settings: Settings, *args: str) -> subprocess.CompletedProcess[str]:
    return await asyncio.to_thread(
        subprocess.run,
        [*IDSYNC, *args],
        env=env_for(settings),
        capture_output=True,
        text=True,
        timeout=120,
    )


async def planned_of(session: Session, run_id: str) -> RunPlanned:
    [planned] = [e for e in await events_of_run(session, run_id) if isinstance(e, RunPlanned)]
    return planned


async def test_delta_runs_see_a_change_a_deletion_and_a_newcomer_and_nothing_else(
    graph_tenant: Tenant,
    tmp_path: Path,
    session: Session,
    services: RunServices,
    settings: Settings,
) -> None:
    ids = {}
    for i in range(10):
        ids[f"E{i}"] = user(graph_tenant, f"E{i}", department="Sales" if i < 8 else "Research")[
            "id"
        ]
    folder = tmp_path / "job"
    db = '[db]\nprovider = "sqlite"\npath = "data/directory.db"\n\n'
    job = await define(session, folder, db + connection_toml(folder, graph_tenant), JOB)
    async with services():
        _, full = await follow_run(session, job, None)
        assert isinstance(full, RunFinished) and full.stats.created == 8, full
        assert sorted(table(folder)) == [f"E{i}" for i in range(8)]

        graph_tenant.graph("PATCH", f"users/{ids['E1']}", {"displayName": "Eve Renamed"})
        graph_tenant.graph("DELETE", f"users/{ids['E2']}")
        user(graph_tenant, "E10", department="Sales")
        graph_tenant.graph("PATCH", f"users/{ids['E9']}", {"displayName": "Out of scope"})
        before = graph_tenant.stats().get("GET requests", 0)
        run_id, end = await follow_run(session, job, None, changed_only=True)
        assert isinstance(end, RunFinished), end
        stats = end.stats
        assert (stats.updated, stats.deleted, stats.created, stats.failed) == (1, 1, 1, 0), stats
        planned = await planned_of(session, run_id)
        assert planned.incremental and planned.source_records == 3
        rows = table(folder)
        assert rows["E1"][0] == "Eve Renamed" and "E2" not in rows and "E10" in rows
        assert "E9" not in rows
        # The delta pages, the changed users read again, the deleted one from deleted
        # items: a few requests, not the tenant's pages.
        assert graph_tenant.stats()["GET requests"] - before <= 6

        _, nothing = await follow_run(session, job, None, changed_only=True)
        assert isinstance(nothing, RunFinished) and nothing.stats.written == 0
        assert nothing.stats.read == 0

        # Links older than Graph keeps them; meanwhile a user is deleted, and only a full
        # read can see it: the incremental run asked for is a full run, and says so.
        graph_tenant.admin("POST", "expire-delta")
        graph_tenant.graph("DELETE", f"users/{ids['E4']}")
        preview = await idsync(settings, "job", "preview", job, "--changed-only", "--json")
        assert preview.returncode == 0, preview.stderr
        previewed = json.loads(preview.stdout)
        assert previewed["warnings"][0].startswith("full run: the delta link had expired")
        run_id, again = await follow_run(session, job, None, changed_only=True)
        assert isinstance(again, RunFinished), again
        assert (again.stats.deleted, again.stats.written) == (1, 1), again.stats
        assert "E4" not in table(folder) and len(table(folder)) == 7
        planned = await planned_of(session, run_id)
        assert planned.source_records == 7  # everything in scope was read again
        assert not planned.incremental and planned.since is None
        assert planned.plan_hash == previewed["plan_hash"]  # the preview planned this run
        assert planned.full_because and "the delta link had expired" in planned.full_because
        shown = await idsync(settings, "run", "show", run_id)
        assert shown.returncode == 0, shown.stderr
        assert "full run: the delta link had expired" in shown.stdout
        assert "incremental:" not in shown.stdout

        graph_tenant.graph("PATCH", f"users/{ids['E3']}", {"displayName": "After the resync"})
        _, after = await follow_run(session, job, None, changed_only=True)
        assert isinstance(after, RunFinished) and after.stats.updated == 1, after
        assert after.stats.read == 1
