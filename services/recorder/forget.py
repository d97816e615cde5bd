"""A job deleted with its history (`job.history-forgotten`): the history forgets its runs.

The event comes after every event of the job's runs that the journal still holds (the
purge is done first: services/common/purging.py), so what it forgets is told by the
journal's sequence: every event of the job's runs before it, and the rows of those runs
(runs, record errors, batches, changes, log lines). A run with events after it (one
still going when the job was deleted) is told again from those alone, as a replay of
the journal, which holds only those, tells it.

The event itself is kept in `events` (it is about no run: `run_id` is empty, never
pruned), and its sequence in `progress` (`forgotten:<job>`): an event of the job older
than the latest forgetting that reaches the recorder afterwards (its run events and its
jobs' events are two consumers) is not recorded. Delivered again, or replayed from the
journal's start, the same forgetting deletes what it deleted before: the same tables.

The job's runs are found by the runs table's index on the job, their events by the
events' index on the run: no scan of the history, however long it is."""

from __future__ import annotations

from collections.abc import Sequence

from .database import Database, upsert

PREFIX = "forgotten:"
UPPER = "forgotten;"
"""Just above every `forgotten:…` (";" follows ":"): the progress keys of forgettings."""
RUN_TABLES = ("runs", "record_errors", "batches", "changes", "log_lines")
"""The rows of a run besides its events."""
CHUNK = 500
"""Runs deleted per statement (a statement's parameters are bounded)."""
_KEEP = upsert("progress", "what, value", "what")


async def forgotten_at(db: Database) -> dict[str, int]:
    """Per job: the journal sequence of the latest forgetting of its history."""
    rows = await db.fetchall(
        "SELECT what, value FROM progress WHERE what >= ? AND what < ?", (PREFIX, UPPER)
    )
    return {what.removeprefix(PREFIX): int(value) for what, value in rows}


async def forget(db: Database, job_id: str, seq: int, before: int) -> list[str]:
    """Delete the job's runs' events before `seq` and every row of those runs (within the
    caller's transaction), and note the forgetting (`before`: the latest one noted, kept
    if later); the runs whose events were deleted."""
    await db.execute(_KEEP, (PREFIX + job_id, max(seq, before)))
    runs = [run_id for (run_id,) in await db.fetchall(_OF_JOB, (job_id,))]
    forgotten: list[str] = []
    for start in range(0, len(runs), CHUNK):
        part = runs[start : start + CHUNK]
        marks = ", ".join("?" * len(part))
        older = await db.fetchall(
            f"SELECT DISTINCT run_id FROM events WHERE run_id IN ({marks}) AND seq < ?",
            [*part, seq],
        )
        forgotten += [run_id for (run_id,) in older]
    for start in range(0, len(forgotten), CHUNK):
        await _delete(db, forgotten[start : start + CHUNK], seq)
    return forgotten


_OF_JOB = "SELECT run_id FROM runs WHERE job_id = ?"


async def _delete(db: Database, runs: Sequence[str], seq: int) -> None:
    marks = ", ".join("?" * len(runs))
    for table in RUN_TABLES:
        await db.execute(f"DELETE FROM {table} WHERE run_id IN ({marks})", list(runs))
    await db.execute(f"DELETE FROM events WHERE run_id IN ({marks}) AND seq < ?", [*runs, seq])
