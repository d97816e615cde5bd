"""The history database: an older one gains the columns added since, and a run's job
version is the one applied last before the server stored its last `run.started`."""

from __future__ import annotations

import asyncio
import sqlite3
import threading
from datetime import UTC, datetime
from pathlib import Path

import aiosqlite
import pytest

from core.errors import BadInput
from services.common.settings import Settings
from services.recorder.database import (
    dialect,
    history_url,
    numbered,
    open_database,
    stamp,
    upsert,
    without_password,
)
from services.recorder.versions import planned_at, version_at

OLD_EVENTS = """CREATE TABLE events (id TEXT PRIMARY KEY, seq INTEGER NOT NULL,
run_id TEXT NOT NULL, job_id TEXT NOT NULL, type TEXT NOT NULL, at TEXT NOT NULL,
body BLOB NOT NULL)"""
OLD_CHANGES = """CREATE TABLE changes (run_id TEXT NOT NULL, batch INTEGER NOT NULL,
n INTEGER NOT NULL, job_id TEXT NOT NULL, object_type TEXT NOT NULL, key TEXT NOT NULL,
action TEXT NOT NULL, field TEXT NOT NULL, old TEXT NOT NULL, new TEXT NOT NULL,
container TEXT NOT NULL, secret INTEGER NOT NULL, outcome TEXT NOT NULL, error TEXT NOT NULL,
at TEXT NOT NULL, PRIMARY KEY (run_id, batch, n))"""


async def test_an_older_database_gains_the_columns_added_since(tmp_path: Path) -> None:
    path = tmp_path / "history.sqlite"
    with sqlite3.connect(path) as old:
        old.execute(OLD_EVENTS)
        old.execute("INSERT INTO events VALUES ('e1', 1, 'r', 'j', 'run.started', 'T1', x'00')")
        old.execute(OLD_CHANGES)
        old.execute(
            "INSERT INTO changes VALUES ('r', 1, 0, 'j', 'user', 'E1', 'update', 'mail', "
            "'a', 'b', '', 0, 'applied', '', 'T2')"
        )
    db = await open_database(path, write=True)
    try:
        assert await db.fetchall("SELECT id, stored FROM events") == [("e1", "")]
        assert await db.fetchall("SELECT key, identifier FROM changes") == [("E1", "")]
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
                "INSERT INTO events VALUES (?, ?, ?, 'j', 'run.started', '', ?, ?)",
                (f"e{seq}", seq, run, b"\x00", stored),
            )
        # Run a planned again after version 2 was applied (its approval came later).
        await db.execute(
            "INSERT INTO events VALUES ('e3', 3, 'a', 'j', 'run.started', '', ?, '2026-01-03T09')",
            (b"\x00",),
        )
        first = await version_at(db, "j", await planned_at(db, "b"))
        again = await version_at(db, "j", await planned_at(db, "a"))
        assert first is not None and first.version == 2 and first.revision == 9
        assert again is not None and again.version == 2
        assert await version_at(db, "j", "2025-12-31") is None
        assert await version_at(db, "other", "2026-01-03") is None
    finally:
        await db.close()


def test_one_statement_serves_both_databases() -> None:
    sql = upsert("batches", "run_id, batch, note", "run_id, batch")
    assert sql == (
        "INSERT INTO batches (run_id, batch, note) VALUES (?, ?, ?) "
        "ON CONFLICT (run_id, batch) DO UPDATE SET note = excluded.note"
    )
    assert numbered(sql).endswith(
        "VALUES ($1, $2, $3) ON CONFLICT (run_id, batch) DO UPDATE SET note = excluded.note"
    )
    table = "CREATE TABLE t (n INTEGER NOT NULL, s REAL, b BLOB, k TEXT PRIMARY KEY)"
    assert dialect(table, "sqlite") == table
    assert dialect(table, "postgresql") == (
        'CREATE TABLE t (n BIGINT NOT NULL, s DOUBLE PRECISION, b BYTEA, k TEXT COLLATE "C" '
        "PRIMARY KEY)"
    )


def test_the_history_url_is_checked_and_never_logged_with_its_password(tmp_path: Path) -> None:
    assert history_url(None, None) is None
    url = "postgresql://idsync:s3cret@db.example:5432/history"
    assert history_url(url, None) == url
    assert without_password(url) == "postgresql://idsync@db.example:5432/history"
    with pytest.raises(BadInput, match="postgresql://"):
        history_url("mysql://idsync@db/history", None)
    secret = tmp_path / "pw"
    secret.write_text("s3cret\n")
    with pytest.raises(BadInput, match="give it once"):
        history_url(url, secret)
    with pytest.raises(BadInput, match="no IDSYNC_HISTORY_URL"):
        history_url(None, secret)
    with pytest.raises(BadInput, match="not a file"):
        history_url("postgresql://idsync@db/history", tmp_path / "missing")


def test_the_settings_name_the_history_database(tmp_path: Path) -> None:
    env = {
        "IDSYNC_HOME": str(tmp_path),
        "IDSYNC_HISTORY_URL": "postgresql://idsync@db/history",
        "IDSYNC_HISTORY_PASSWORD_FILE": str(tmp_path / "pw"),
    }
    settings = Settings.from_env(env)
    assert settings.history_url == "postgresql://idsync@db/history"
    assert settings.history_password_file == tmp_path / "pw"
    assert Settings.from_env({"IDSYNC_HOME": str(tmp_path)}).history_url is None


async def test_role_changes_are_kept_and_answered_in_journal_order(tmp_path: Path) -> None:
    from schemas.events import RoleChanged
    from schemas.history import HistoryQuery
    from schemas.roles import Role
    from services.recorder.answers import answer
    from services.recorder.project import Recorder

    db = await open_database(tmp_path / "history.sqlite", write=True)
    try:
        recorder = Recorder(None, db)
        defined = RoleChanged(
            run_id="", job_id="hr", change="defined", by="ada", definition=Role(id="hr")
        )
        granted = RoleChanged(run_id="", job_id="hr", change="granted", by="ada", grantee="bob")
        other = RoleChanged(run_id="", job_id="ops", change="granted", by="ada", grantee="eve")
        for seq, event in enumerate((defined, granted, other), start=1):
            await recorder.record(event, seq)
        await recorder.record(granted, 2)  # delivered again (its own sequence): kept once
        every = await answer(db, HistoryQuery(what="roles"))
        of_hr = await answer(db, HistoryQuery(what="roles", job_id="hr", limit=1))
    finally:
        await db.close()
    assert every.events == [defined, granted, other]
    assert of_hr.events == [defined] and of_hr.next_offset == 1


async def test_a_recorder_stopped_while_it_makes_the_tables_leaves_no_connection_open(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Stopped while the history's tables are made (a service stopped as it starts), the
    connection closes with it: its thread ends, nothing answers a loop that is gone."""
    started = asyncio.Event()

    async def slow_schema(self: aiosqlite.Connection, sql: str) -> None:
        started.set()
        await asyncio.Event().wait()  # until cancelled

    before = set(threading.enumerate())
    monkeypatch.setattr(aiosqlite.Connection, "executescript", slow_schema)
    opening = asyncio.create_task(open_database(tmp_path / "history.sqlite", write=True))
    await started.wait()
    opening.cancel()
    with pytest.raises(asyncio.CancelledError):
        await opening
    left = [t for t in set(threading.enumerate()) - before if t.is_alive()]
    for thread in left:
        thread.join(timeout=5)
    assert [t.name for t in left if t.is_alive()] == []
