"""A job runs from CSV to SQLite through every service over a real nats-server."""

from __future__ import annotations

import sqlite3
from pathlib import Path

from core.runs import fold
from schemas.events import RunFinished, tag_of
from services.cli.client import Session
from services.cli.watch import follow_run
from services.common.people import write_csv

from .conftest import JOB_ID, Files, RunServices, apply_files

FULL_FLOW = [
    "run.requested",
    "run.approved",
    "run.started",
    "run.planned",
    "run.batch-applied",
    "run.finished",
]


def table(db: Path) -> dict[str, dict[str, str | None]]:
    with sqlite3.connect(db) as conn:
        conn.row_factory = sqlite3.Row
        rows = conn.execute("SELECT * FROM people").fetchall()
    return {row["employee_id"]: dict(row) for row in rows}


async def run_job(session: Session) -> RunFinished:
    _, end = await follow_run(session, JOB_ID, None)
    assert isinstance(end, RunFinished), end
    return end


async def test_a_run_flows_through_every_service(
    files: Files, session: Session, services: RunServices
) -> None:
    rows = files.write(count=120)
    await apply_files(session, files)
    async with services():
        end = await run_job(session)
    assert end.stats.created == 120 and end.stats.failed == 0
    stored = table(files.db)
    assert set(stored) == {row["employee_id"] for row in rows}
    sample = rows[17]
    assert stored[sample["employee_id"]]["given_name"] == sample["first_name"]
    assert stored[sample["employee_id"]]["mail"] == sample["email"]
    assert stored[sample["employee_id"]]["groups"] == sample["groups"]
    runs = fold(await session.journal())
    assert [run.events for run in runs] == [FULL_FLOW]
    assert runs[0].requested_by == "tester"


async def test_a_rerun_writes_nothing_and_a_change_writes_only_itself(
    files: Files, session: Session, services: RunServices
) -> None:
    rows = files.write(count=80)
    await apply_files(session, files)
    async with services():
        await run_job(session)
        modified = files.db.stat().st_mtime_ns
        again = await run_job(session)
        assert again.stats.written == 0
        assert again.stats.unchanged == 80
        assert files.db.stat().st_mtime_ns == modified
        rows[3]["department"] = "Somewhere else"
        left = rows.pop(10)
        write_csv(files.csv, rows)
        third = await run_job(session)
    assert (third.stats.updated, third.stats.deleted, third.stats.created) == (1, 1, 0)
    stored = table(files.db)
    assert left["employee_id"] not in stored
    assert stored[rows[3]["employee_id"]]["department"] == "Somewhere else"
    assert len(stored) == 79
    assert all(tag_of(e) != "run.failed" for e in await session.journal())
