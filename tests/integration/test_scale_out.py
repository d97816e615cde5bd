"""Several runners share a run; a runner killed at any point changes nothing twice.

The destination counts its own writes (SQLite triggers), so "written once" is what
the database saw, not what idsync says. Kill rounds: IDSYNC_LONG_TESTS=1 runs more.
"""

from __future__ import annotations

import asyncio
import os
import signal
import sqlite3
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path

import pytest

from schemas.events import RunBatchApplied, RunFinished, RunStarted, is_end
from services.cli.client import Session
from services.common.jetstream import WORK, WORKER
from services.common.settings import Settings

from .conftest import JOB_ID, Files, RunServices, apply_files
from .journal import events_of_run, wait_for_event
from .processes import runner_process

ROUNDS = 20 if os.environ.get("IDSYNC_LONG_TESTS") else 3

COUNTED_TABLE = """
CREATE TABLE people (employee_id TEXT, given_name TEXT, surname TEXT, mail TEXT,
                     department TEXT, groups TEXT);
CREATE UNIQUE INDEX people_key ON people (employee_id);
CREATE TABLE writes (employee_id TEXT, kind TEXT);
CREATE TRIGGER people_inserted AFTER INSERT ON people
  BEGIN INSERT INTO writes VALUES (new.employee_id, 'insert'); END;
CREATE TRIGGER people_updated AFTER UPDATE ON people
  BEGIN INSERT INTO writes VALUES (new.employee_id, 'update'); END;
"""


def counted_destination(db: Path) -> None:
    db.parent.mkdir(parents=True, exist_ok=True)
    with sqlite3.connect(db) as conn:
        conn.executescript(COUNTED_TABLE)


def writes_per_key(db: Path) -> dict[str, int]:
    with sqlite3.connect(db) as conn:
        rows = conn.execute("SELECT employee_id, count(*) FROM writes GROUP BY employee_id")
        return dict(rows.fetchall())


def rows(db: Path) -> list[tuple[str, ...]]:
    with sqlite3.connect(db) as conn:
        return sorted(conn.execute("SELECT * FROM people").fetchall())


def expected_rows(people: list[dict[str, str]]) -> list[tuple[str, ...]]:
    fields = ("employee_id", "first_name", "last_name", "email", "department", "groups")
    return sorted(tuple(person[f] for f in fields) for person in people)


@contextmanager
def runners(settings: Settings, names: list[str], **env: str) -> Iterator[list[object]]:
    with ExitStack() as stack:
        yield [stack.enter_context(runner_process(settings, name, **env)) for name in names]


async def pulling(session: Session, count: int, timeout: float = 30) -> None:
    """Wait until `count` runners have pull requests waiting on the work queue."""
    for _ in range(int(timeout * 10)):
        info = await session.js.consumer_info(WORK, WORKER.name)
        if info.num_waiting >= count:
            return
        await asyncio.sleep(0.1)
    raise AssertionError(f"fewer than {count} runners pulling work")


@pytest.mark.parametrize("count", [2, 3])
async def test_runners_side_by_side_each_apply_part_of_a_run(
    count: int, files: Files, session: Session, services: RunServices, settings: Settings
) -> None:
    people = files.write(count=10_000, batch_size=250)
    counted_destination(files.db)
    await apply_files(session, files)
    names = [f"runner-{n}" for n in range(count)]
    async with services("workflow"):
        with runners(settings, names, IDSYNC_RUNNER_CONCURRENCY="2"):
            await pulling(session, count)
            run_id = await session.request_run(JOB_ID)
            end = await wait_for_event(session, lambda e: is_end(e) and e.run_id == run_id, 120)
    assert isinstance(end, RunFinished) and end.stats.created == 10_000, end
    events = await events_of_run(session, run_id)
    applied_by = {e.runner for e in events if isinstance(e, RunBatchApplied)}
    assert applied_by == set(names), "every runner applied at least one batch"
    assert rows(files.db) == expected_rows(people)
    assert set(writes_per_key(files.db).values()) == {1}
    assert sum(isinstance(e, RunFinished) for e in events) == 1


KILL_POINTS = {
    "after-plan": "after-plan",  # the plan is stored, no batch published yet
    "after-writing-a-batch": "after-write:2",  # batch written, not recorded nor acked
    "in-the-middle-of-a-phase": "after-record:3",  # batch recorded, next not started
}


@pytest.mark.parametrize("round_", range(ROUNDS))
@pytest.mark.parametrize("point", list(KILL_POINTS))
async def test_a_runner_killed_at_a_fixed_point_changes_nothing_twice(
    point: str,
    round_: int,
    files: Files,
    session: Session,
    services: RunServices,
    settings: Settings,
) -> None:
    people = files.write(count=2_000, batch_size=200)
    counted_destination(files.db)
    await apply_files(session, files)
    async with services("workflow"):
        with runners(settings, ["doomed"], IDSYNC_FAILPOINTS=KILL_POINTS[point]) as (doomed,):
            run_id = await session.request_run(JOB_ID)
            assert await asyncio.to_thread(doomed.wait, 60) == -signal.SIGKILL  # type: ignore[attr-defined]
        with runners(settings, ["survivor"]):
            end = await wait_for_event(session, lambda e: is_end(e) and e.run_id == run_id, 120)
    assert isinstance(end, RunFinished), end
    assert end.stats.created == 2_000 and end.stats.failed == 0
    assert rows(files.db) == expected_rows(people), "no record missing"
    writes = writes_per_key(files.db)
    assert len(writes) == 2_000 and set(writes.values()) == {1}, "none written twice"
    events = await events_of_run(session, run_id)
    assert sum(isinstance(e, RunFinished) for e in events) == 1
    assert [e.attempt for e in events if isinstance(e, RunStarted)] == [1], "planned once"
