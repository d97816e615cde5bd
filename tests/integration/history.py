"""Asking the recorder, the way `idsync run review` and `idsync history` do."""

from __future__ import annotations

import asyncio
import sqlite3
import time
from pathlib import Path

import msgspec

from core.errors import NotFound, Unreachable
from core.runs import RunStory
from schemas.events import RunFinished
from schemas.history import ChangeRow, HistoryQuery
from services.cli.client import Session
from services.cli.watch import follow_run
from services.common.history_client import all_changes, ask
from services.common.people import people, write_csv
from services.common.settings import Settings
from services.recorder.database import path_in

from .conftest import JOB_ID, Files
from .journal import events_of_run

TABLES = ("events", "runs", "record_errors", "batches", "changes")


async def recorded(session: Session, run_id: str, timeout: float = 60.0) -> RunStory:
    """The run's story once the recorder holds every event the journal has of it."""
    deadline = time.monotonic() + timeout
    while True:
        events = await events_of_run(session, run_id)
        try:
            reply = await ask(session, HistoryQuery(what="run", run_id=run_id))
        except (NotFound, Unreachable):  # not there yet, or the recorder is starting
            reply = None
        if reply is not None:
            story = msgspec.json.decode(reply.story, type=RunStory)
            if len(story.events) == len(events) and story.ended_at is not None:
                return story
        if time.monotonic() > deadline:
            raise AssertionError(f"the recorder did not catch up with run {run_id}")
        await asyncio.sleep(0.2)


async def three_runs(files: Files, session: Session, rows: list[dict[str, str]]) -> list[str]:
    """With the services running, the job run three times on the people `files.write`
    wrote: 40 created; one moved to another department, one left, one arrived; nothing."""
    moved, leaving = rows[3], rows[10]
    runs = []
    run_id, end = await follow_run(session, JOB_ID, None)
    assert isinstance(end, RunFinished) and end.stats.created == 40
    runs.append(run_id)
    edited = [dict(r) for r in rows if r is not leaving]
    for r in edited:
        if r["employee_id"] == moved["employee_id"]:
            r["department"] = "Legal" if r["department"] != "Legal" else "Research"
    write_csv(files.csv, [*edited, *people(1, start=900)])
    run_id, end = await follow_run(session, JOB_ID, None)
    assert isinstance(end, RunFinished) and end.stats.written == 3
    runs.append(run_id)
    run_id, end = await follow_run(session, JOB_ID, None)  # nothing to do
    runs.append(run_id)
    return runs


async def changes_of(session: Session, run_id: str) -> list[ChangeRow]:
    return await all_changes(session, HistoryQuery(what="changes", run_id=run_id))


def tables(
    settings: Settings, names: tuple[str, ...] = TABLES
) -> dict[str, list[tuple[object, ...]]]:
    """Every row of every history table, sorted: what two projections compare by."""
    return tables_in(path_in(settings.home), names)


def tables_in(path: Path, names: tuple[str, ...] = TABLES) -> dict[str, list[tuple[object, ...]]]:
    with sqlite3.connect(path) as db:
        return {t: sorted(db.execute(f"SELECT * FROM {t}").fetchall()) for t in names}
