"""The history database: SQLite under IDSYNC_HOME (history.sqlite), in WAL mode.

Every table is keyed by what the journal says (event ids, run ids, batch numbers), so
writing a fact again replaces it with itself: replaying the journal from the start
gives the same tables. One writer (the recorder's consumer) and readers (its answers)
on connections of their own.
"""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import aiosqlite

FILE = "history.sqlite"

SCHEMA = """
CREATE TABLE IF NOT EXISTS events (
    id TEXT PRIMARY KEY,
    seq INTEGER NOT NULL,           -- the journal's sequence: the order of the fold
    run_id TEXT NOT NULL,
    job_id TEXT NOT NULL,
    type TEXT NOT NULL,
    at TEXT NOT NULL,
    body BLOB NOT NULL,             -- the event as JSON (sealed passwords left out)
    stored TEXT NOT NULL DEFAULT '' -- when the server stored it (UTC; see stamp())
);
CREATE INDEX IF NOT EXISTS events_of_run ON events (run_id, seq);
CREATE TABLE IF NOT EXISTS runs (
    run_id TEXT PRIMARY KEY,
    job_id TEXT NOT NULL,
    state TEXT NOT NULL,
    trig TEXT NOT NULL,
    requested_by TEXT NOT NULL,
    requested_at TEXT,
    approved_by TEXT NOT NULL,
    plan_hash TEXT NOT NULL,
    reason TEXT NOT NULL,
    written INTEGER NOT NULL,
    failed INTEGER NOT NULL,
    seconds REAL,
    ended_at TEXT,
    story BLOB NOT NULL             -- core/runs.py's RunStory as JSON, without its errors
);
CREATE INDEX IF NOT EXISTS runs_of_job ON runs (job_id, requested_at);
CREATE TABLE IF NOT EXISTS record_errors (
    run_id TEXT NOT NULL,
    n INTEGER NOT NULL,
    key TEXT NOT NULL,
    object_type TEXT NOT NULL,
    action TEXT NOT NULL,
    message TEXT NOT NULL,
    skipped INTEGER NOT NULL,
    PRIMARY KEY (run_id, n)
);
CREATE TABLE IF NOT EXISTS batches (
    run_id TEXT NOT NULL,
    batch INTEGER NOT NULL,
    plan_hash TEXT NOT NULL,
    outcome TEXT NOT NULL,          -- applied | dropped
    at TEXT NOT NULL,
    rows INTEGER NOT NULL,
    note TEXT NOT NULL,             -- e.g. why its changes could not be recorded
    PRIMARY KEY (run_id, batch)
);
CREATE TABLE IF NOT EXISTS changes (
    run_id TEXT NOT NULL,
    batch INTEGER NOT NULL,
    n INTEGER NOT NULL,
    job_id TEXT NOT NULL,
    object_type TEXT NOT NULL,
    key TEXT NOT NULL,
    action TEXT NOT NULL,
    field TEXT NOT NULL,
    old TEXT NOT NULL,
    new TEXT NOT NULL,
    container TEXT NOT NULL,
    secret INTEGER NOT NULL,        -- 1: old and new say "(set)" or nothing, never a value
    outcome TEXT NOT NULL,          -- applied | failed | dropped
    error TEXT NOT NULL,
    at TEXT NOT NULL,
    PRIMARY KEY (run_id, batch, n)
);
-- One index besides the key: every question about an object names it (`history KEY`,
-- `why JOB KEY FIELD` filters the object's rows); each index is one more write a row.
CREATE INDEX IF NOT EXISTS changes_of_object ON changes (key, at);
DROP INDEX IF EXISTS changes_of_job_object;
CREATE TABLE IF NOT EXISTS job_versions (
    revision INTEGER PRIMARY KEY,   -- the jobs bucket's revision that stored it
    job_id TEXT NOT NULL,
    version INTEGER NOT NULL,       -- 1, 2, 3…: the job's definitions as the recorder found them
    applied_at TEXT NOT NULL,       -- when the server stored it (UTC; see stamp())
    deleted INTEGER NOT NULL,
    body BLOB                       -- the job as JSON (a job holds no secret); NULL: deleted
);
CREATE UNIQUE INDEX IF NOT EXISTS job_versions_of_job ON job_versions (job_id, version);
CREATE TABLE IF NOT EXISTS log_lines (
    run_id TEXT NOT NULL,
    source TEXT NOT NULL,           -- the process that logged it (runner id and a token)
    batch INTEGER NOT NULL,         -- that process's batch number
    n INTEGER NOT NULL,
    job_id TEXT NOT NULL,
    at TEXT NOT NULL,
    level TEXT NOT NULL,
    service TEXT NOT NULL,
    runner TEXT NOT NULL,
    event TEXT NOT NULL,
    fields TEXT NOT NULL,           -- the line's other key/values (JSON; never a password)
    PRIMARY KEY (run_id, source, batch, n)
);
CREATE TABLE IF NOT EXISTS progress (
    what TEXT PRIMARY KEY,          -- jobs: the last revision of the jobs bucket read
    value INTEGER NOT NULL
);
"""
ADDED_COLUMNS = (("events", "stored", "TEXT NOT NULL DEFAULT ''"),)
"""Columns added since the first release of the database: added to an older one."""


def path_in(home: Path) -> Path:
    return home / FILE


async def open_database(path: Path, *, write: bool) -> aiosqlite.Connection:
    """A connection to the history database, its tables made if need be."""
    path.parent.mkdir(parents=True, exist_ok=True)
    # Autocommit: the recorder opens and commits its one transaction per event itself.
    db = await aiosqlite.connect(path, timeout=30, isolation_level=None)
    await db.execute("PRAGMA journal_mode=WAL")
    await db.execute("PRAGMA synchronous=NORMAL")
    if write:
        await db.executescript(SCHEMA)
        for table, column, kind in ADDED_COLUMNS:
            cursor = await db.execute(f"PRAGMA table_info({table})")
            if column not in {row[1] for row in await cursor.fetchall()}:
                await db.execute(f"ALTER TABLE {table} ADD COLUMN {column} {kind}")
    return db


def stamp(when: datetime) -> str:
    """A server time as the database keeps it: UTC, always with microseconds, so that
    times compare as text."""
    return when.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%f+00:00")
