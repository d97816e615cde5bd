"""A job deleted with its history (`job.history-forgotten`): the history forgets its runs.

The event comes after every event of the job's runs that the journal still holds (the
purge is done first: services/common/purging.py), so what it forgets is told by the
journal's sequence: every event of the job before it, and the rows of those runs (runs,
record errors, batches, changes, log lines). A run with events after it (one still
going when the job was deleted) is told again from those alone, as a replay of the
journal, which holds only those, tells it.

The event itself is kept (it is about no run: `run_id` is empty, never pruned), and is
what the recorder remembers: an event of the job older than the latest forgetting that
reaches the recorder afterwards (its run events and its jobs' events are two consumers)
is not recorded. Delivered again, or replayed from the journal's start, the same
forgetting deletes what it deleted before: the same tables either way."""

from __future__ import annotations

from .database import Database

FORGOTTEN = "job.history-forgotten"
RUN_TABLES = ("runs", "record_errors", "batches", "changes", "log_lines")
"""The rows of a run besides its events."""
_BEFORE = "SELECT DISTINCT run_id FROM events WHERE job_id = ? AND seq < ? AND run_id <> ''"


async def forgotten_at(db: Database) -> dict[str, int]:
    """Per job: the journal sequence of the latest forgetting of its history."""
    rows = await db.fetchall(
        "SELECT job_id, MAX(seq) FROM events WHERE type = ? GROUP BY job_id", (FORGOTTEN,)
    )
    return {job_id: int(seq) for job_id, seq in rows}


async def forget(db: Database, job_id: str, seq: int) -> list[str]:
    """Delete the job's events before `seq` and every row of their runs (within the
    caller's transaction); the runs whose events were deleted."""
    runs = [run_id for (run_id,) in await db.fetchall(_BEFORE, (job_id, seq))]
    for table in RUN_TABLES:
        await db.execute(f"DELETE FROM {table} WHERE run_id IN ({_BEFORE})", (job_id, seq))
    await db.execute(
        "DELETE FROM events WHERE job_id = ? AND seq < ? AND run_id <> ''", (job_id, seq)
    )
    return runs
