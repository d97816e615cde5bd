"""Retention: a run that ended longer ago than its job keeps history is archived, then
removed from the history database.

How long: the job's `history = { keep = "90d" }` (its latest recorded version), else
the recorder's `IDSYNC_HISTORY_KEEP_DAYS` (365). Every PRUNE_EVERY seconds (and at
start) the runs past their time are written, every row of every table that holds them
(runs, events, record_errors, batches, changes, log_lines), to a JSON lines file under
IDSYNC_HOME/history-archive/<job>/ — written to a temporary name, fsynced, renamed and
its folder fsynced — and only then deleted, in one transaction. An archive that cannot
be written prunes nothing. A crash between the archive and the delete leaves both: the
next pass archives those runs again, in a file of its own.
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import Callable
from datetime import datetime, timedelta
from pathlib import Path
from typing import IO, Any

import msgspec

from core.checks.intervals import parse_interval
from core.errors import BadInput
from schemas.jobs import Job

from .database import Database

FOLDER = "history-archive"
PRUNE_EVERY = 3600.0
TABLES = ("runs", "events", "record_errors", "batches", "changes", "log_lines")
JSON_COLUMNS = {("runs", "story"), ("events", "body"), ("log_lines", "fields")}
"""Columns holding JSON: archived as JSON, not as text."""
CHUNK = 5000
"""Rows written to an archive at a time."""
PER_PASS = 500
"""Runs one pass archives and removes at most (the next pass takes the rest)."""
_line = msgspec.json.Encoder()
_job = msgspec.json.Decoder(Job)


class Pruned(msgspec.Struct, frozen=True, kw_only=True):
    runs: int = 0
    rows: int = 0
    archives: list[str] = msgspec.field(default_factory=list)


async def keeps(db: Database, default_days: float) -> Callable[[str], timedelta]:
    """How long each job's runs are kept: its latest version's `history.keep`, else the
    default (a job the recorder never saw, a deleted one, one whose keep does not read)."""
    rows = await db.fetchall(
        "SELECT job_id, body FROM job_versions AS v WHERE version = "
        "(SELECT max(version) FROM job_versions WHERE job_id = v.job_id)"
    )
    found: dict[str, timedelta] = {}
    for job_id, body in rows:
        if body is None:
            continue
        try:
            job = _job.decode(body)
            if job.history is not None:
                found[job_id] = timedelta(seconds=parse_interval(job.history.keep))
        except (msgspec.DecodeError, msgspec.ValidationError, BadInput):
            continue
    default = timedelta(days=default_days)
    return lambda job_id: found.get(job_id, default)


async def prune(
    db: Database, home: Path, keep: Callable[[str], timedelta], now: datetime
) -> Pruned:
    """Archive, then remove, the runs past their job's time. OSError when the archive
    cannot be written: nothing is removed then."""
    ended = await db.fetchall(
        "SELECT run_id, job_id, ended_at FROM runs WHERE ended_at IS NOT NULL ORDER BY ended_at"
    )
    due: dict[str, list[str]] = {}
    for run_id, job_id, ended_at in ended:
        if datetime.fromisoformat(ended_at) < now - keep(job_id):
            due.setdefault(job_id, []).append(run_id)
            if sum(map(len, due.values())) >= PER_PASS:
                break
    if not due:
        return Pruned()
    archives: list[str] = []
    rows = 0
    for job_id, runs in due.items():
        path, count = await _archive(db, home / FOLDER / job_id, runs, now)
        archives.append(str(path))
        rows += count
    async with db.transaction():
        for runs in due.values():
            marks = ", ".join("?" * len(runs))
            for table in TABLES:
                await db.execute(f"DELETE FROM {table} WHERE run_id IN ({marks})", runs)
    return Pruned(runs=sum(map(len, due.values())), rows=rows, archives=archives)


async def _archive(db: Database, folder: Path, runs: list[str], now: datetime) -> tuple[Path, int]:
    """Every row of the runs, one JSON object a line ({"table": …, columns…}), durable
    on disk before this returns."""
    path = folder / f"{now:%Y%m%dT%H%M%S%fZ}.jsonl"
    part = path.with_name(path.name + ".part")
    await asyncio.to_thread(folder.mkdir, parents=True, exist_ok=True)
    out = await asyncio.to_thread(part.open, "wb")
    count = 0
    try:
        for table in TABLES:
            count += await _write_rows(db, out, table, runs)
        await asyncio.to_thread(_sync, out)
    finally:
        out.close()
    await asyncio.to_thread(_publish, part, path)
    return path, count


def _sync(out: IO[bytes]) -> None:
    out.flush()
    os.fsync(out.fileno())


def _publish(part: Path, path: Path) -> None:
    part.rename(path)
    directory = os.open(path.parent, os.O_RDONLY)
    try:
        os.fsync(directory)  # the rename itself survives a power cut
    finally:
        os.close(directory)


async def _write_rows(db: Database, out: IO[bytes], table: str, runs: list[str]) -> int:
    marks = ", ".join("?" * len(runs))
    count = 0
    select = f"SELECT * FROM {table} WHERE run_id IN ({marks})"
    async for names, rows in db.chunks(select, runs, CHUNK):
        lines = []
        for row in rows:
            line: dict[str, Any] = {"table": table}
            for name, value in zip(names, row, strict=True):
                line[name] = msgspec.Raw(value) if (table, name) in JSON_COLUMNS else value
            lines.append(_line.encode(line))
        await asyncio.to_thread(out.write, b"\n".join(lines) + b"\n")
        count += len(rows)
    return count
