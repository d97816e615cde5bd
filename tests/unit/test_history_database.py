"""The history database: an older one gains the columns added since, and a run's job
version is the one applied last before the server stored its last `run.started`."""

from __future__ import annotations

import sqlite3
from datetime import UTC, datetime
from pathlib import Path

from services.recorder.database import open_database, stamp
from services.recorder.versions import planned_at, version_at

OLD_EVENTS = """CREATE TABLE events (id TEXT PRIMARY KEY, seq INTEGER NOT NULL,
run_id TEXT NOT NULL, job_id TEXT NOT NULL, type TEXT NOT NULL, at TEXT NOT NULL,
body BLOB NOT NULL)"""


async def test_an_older_database_gains_the_columns_added_since(tmp_path: Path) -> None:
    path = tmp_path / "history.sqlite"
    with sqlite3.connect(path) as old:
        old.execute(OLD_EVENTS)
        old.execute("INSERT INTO events VALUES ('e1', 1, 'r', 'j', 'run.started', 'T1', x'00')")
    db = await open_database(path, write=True)
    try:
        cursor = await db.execute("SELECT id, stored FROM events")
        assert list(await cursor.fetchall()) == [("e1", "")]
        assert await planned_at(db, "r") == "T1", "an event without the server's time: its own"
    finally:
        await db.close()


def test_server_times_compare_as_text() -> None:
    early = datetime(2026, 1, 1, 10, 0, 0, tzinfo=UTC)
    later = datetime(2026, 1, 1, 10, 0, 0, 1, tzinfo=UTC)
    assert stamp(early) == "2026-01-01T10:00:00.000000+00:00" < stamp(later)


async def test_a_run_was_planned_with_the_version_applied_last_before_it_started(
    tmp_path: Path,
) -> None:
    db = await open_database(tmp_path / "history.sqlite", write=True)
    try:
        for revision, version, at in ((3, 1, "2026-01-01T10"), (9, 2, "2026-01-02T10")):
            await db.execute(
                "INSERT INTO job_versions VALUES (?, 'j', ?, ?, 0, NULL)", (revision, version, at)
            )
        for seq, run, stored in ((1, "a", "2026-01-01T12"), (2, "b", "2026-01-02T11")):
            await db.execute(
                "INSERT INTO events VALUES (?, ?, ?, 'j', 'run.started', '', x'00', ?)",
                (f"e{seq}", seq, run, stored),
            )
        # Run a planned again after version 2 was applied (its approval came later).
        await db.execute(
            "INSERT INTO events VALUES ('e3', 3, 'a', 'j', 'run.started', '', x'00', "
            "'2026-01-03T09')"
        )
        first = await version_at(db, "j", await planned_at(db, "b"))
        again = await version_at(db, "j", await planned_at(db, "a"))
        assert first is not None and first.version == 2 and first.revision == 9
        assert again is not None and again.version == 2
        assert await version_at(db, "j", "2025-12-31") is None
        assert await version_at(db, "other", "2026-01-03") is None
    finally:
        await db.close()
