"""The recorder's `runs` question: the runs recorded newest first, of one job, in one
state, paged, or each job's last run — answered from the runs table's indexes."""

from __future__ import annotations

import sqlite3
from datetime import UTC, datetime, timedelta
from pathlib import Path

import msgspec

from core.runs import RunStory
from schemas.event_ids import finished_id, requested_id
from schemas.events import Event, RunFailed, RunFinished, RunRequested
from schemas.history import HistoryQuery
from schemas.plan import RunStats
from services.recorder.answers import answer
from services.recorder.database import Database, open_database
from services.recorder.project import Recorder
from services.recorder.run_list import runs_sql

START = datetime(2026, 3, 1, 8, 0, tzinfo=UTC)
RUNS = [  # (run, job, outcome), in the order they were asked for
    ("r1", "hr", "finished"),
    ("r2", "crm", "failed"),
    ("r3", "hr", "failed"),
    ("r4", "crm", "finished"),
    ("r5", "hr", "finished"),
    ("r6", "ops", "going"),
]


def events(n: int, run_id: str, job_id: str, outcome: str) -> list[Event]:
    at = START + timedelta(minutes=n)
    asked = RunRequested(
        run_id=run_id, job_id=job_id, id=requested_id(run_id), requested_by="ada", at=at
    )
    if outcome == "going":
        return [asked]
    if outcome == "failed":
        return [asked, RunFailed(run_id=run_id, job_id=job_id, reason="no source", at=at)]
    done = RunFinished(
        run_id=run_id,
        job_id=job_id,
        id=finished_id(run_id),
        stats=RunStats(read=3, created=3),
        plan_hash="0" * 64,
        seconds=1.0,
        at=at,
    )
    return [asked, done]


async def asked(path: Path, query: HistoryQuery) -> tuple[list[str], int | None]:
    db = await open_database(path, write=False)
    try:
        reply = await answer(db, query)
    finally:
        await db.close()
    stories = [msgspec.json.decode(s, type=RunStory) for s in reply.stories]
    return [s.run_id for s in stories], reply.next_offset


async def record_runs(db: Database) -> None:
    """RUNS recorded as the recorder records their events."""
    recorder = Recorder(None, db)
    seq = 0
    for n, (run_id, job_id, outcome) in enumerate(RUNS):
        for event in events(n, run_id, job_id, outcome):
            seq += 1
            await recorder.record(event, seq)


async def recorded(tmp_path: Path) -> Path:
    path = tmp_path / "history.sqlite"
    db = await open_database(path, write=True)
    try:
        await record_runs(db)
    finally:
        await db.close()
    return path


QUERIES = [
    HistoryQuery(what="runs"),
    HistoryQuery(what="runs", job_id="hr", state="finished"),
    HistoryQuery(what="runs", state="failed", limit=1),
    HistoryQuery(what="runs", limit=2, offset=2),
    HistoryQuery(what="runs", latest=True),
    HistoryQuery(what="runs", latest=True, state="finished"),
    HistoryQuery(what="runs", latest=True, job_id="crm"),
]
"""Questions asked of both databases (tests/integration/test_history_run_list.py)."""


async def test_runs_come_newest_first_by_job_and_state_and_in_pages(tmp_path: Path) -> None:
    path = await recorded(tmp_path)
    assert await asked(path, HistoryQuery(what="runs")) == (
        ["r6", "r5", "r4", "r3", "r2", "r1"],
        None,
    )
    assert await asked(path, HistoryQuery(what="runs", job_id="hr")) == (["r5", "r3", "r1"], None)
    assert await asked(path, HistoryQuery(what="runs", state="failed")) == (["r3", "r2"], None)
    assert await asked(path, HistoryQuery(what="runs", job_id="hr", state="finished")) == (
        ["r5", "r1"],
        None,
    )
    assert await asked(path, HistoryQuery(what="runs", limit=2)) == (["r6", "r5"], 2)
    assert await asked(path, HistoryQuery(what="runs", limit=2, offset=4)) == (["r2", "r1"], None)
    assert await asked(path, HistoryQuery(what="runs", job_id="nobody")) == ([], None)
    since = (START + timedelta(minutes=4)).isoformat()
    assert await asked(path, HistoryQuery(what="runs", since=since)) == (["r6", "r5"], None)


async def test_each_jobs_last_run_one_per_job(tmp_path: Path) -> None:
    path = await recorded(tmp_path)
    assert await asked(path, HistoryQuery(what="runs", latest=True)) == (
        ["r6", "r5", "r4"],
        None,
    )
    assert await asked(path, HistoryQuery(what="runs", latest=True, job_id="crm")) == (
        ["r4"],
        None,
    )
    # The last run of each job, when it is in that state (not a job's last failed run).
    assert await asked(path, HistoryQuery(what="runs", latest=True, state="finished")) == (
        ["r5", "r4"],
        None,
    )
    assert await asked(path, HistoryQuery(what="runs", latest=True, limit=1)) == (["r6"], 1)


async def test_the_stories_are_the_folds_and_say_where_each_run_stands(tmp_path: Path) -> None:
    path = await recorded(tmp_path)
    db = await open_database(path, write=False)
    try:
        reply = await answer(db, HistoryQuery(what="runs", limit=3))
    finally:
        await db.close()
    stories = [msgspec.json.decode(s, type=RunStory) for s in reply.stories]
    assert [(s.run_id, s.state, s.ended_at is not None) for s in stories] == [
        ("r6", "requested", False),
        ("r5", "finished", True),
        ("r4", "finished", True),
    ]
    assert stories[1].stats.created == 3 and stories[1].requested_by == "ada"


async def test_the_lists_are_read_from_indexes_not_by_scanning_the_runs(tmp_path: Path) -> None:
    path = await recorded(tmp_path)
    with sqlite3.connect(path) as db:
        for query, index in (
            (HistoryQuery(what="runs"), "runs_by_time"),
            (HistoryQuery(what="runs", state="failed"), "runs_of_state"),
            (HistoryQuery(what="runs", job_id="hr"), "runs_of_job"),
            (HistoryQuery(what="runs", latest=True), "runs_of_job"),
        ):
            sql, values = runs_sql(query)
            plan = [row[3] for row in db.execute(f"EXPLAIN QUERY PLAN {sql} LIMIT 50", values)]
            assert any(index in step for step in plan), (query, plan)
            assert not {"SCAN runs", "SCAN r"} & set(plan), ("the whole table read", plan)
