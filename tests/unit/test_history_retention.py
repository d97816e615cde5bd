"""Retention: runs past their job's time are archived to JSON lines, durable on disk,
before they leave the history database; an archive that cannot be written prunes
nothing (services/recorder/retention.py)."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import msgspec
import pytest

from schemas.jobs import Job
from services.recorder.database import Database, DatabaseError, open_database
from services.recorder.retention import FOLDER, TABLES, keeps, prune

NOW = datetime(2026, 6, 1, 12, 0, tzinfo=UTC)
SHORT = msgspec.convert(
    {
        "id": "short",
        "source": {"connection": "a", "file": "x.csv"},
        "destination": {"connection": "b", "table": "t"},
        "objects": [{"keys": ["id"], "fields": [{"to": "id"}]}],
        "history": {"keep": "30d"},
    },
    Job,
)
RUNS = {  # run: (job, days since it ended)
    "short-old": ("short", 60),
    "short-new": ("short", 5),
    "long-old": ("long", 60),
    "long-ancient": ("long", 400),
}


async def add_run(db: Database, run_id: str, job_id: str, days: int) -> None:
    ended = (NOW - timedelta(days=days)).isoformat()
    await db.execute(
        "INSERT INTO runs VALUES (?, ?, 'finished', 'manual', 'ada', ?, '', 'h', '', 2, 0, 1.0, "
        "?, ?)",
        (run_id, job_id, ended, ended, json.dumps({"run_id": run_id}).encode()),
    )
    for seq, kind in enumerate(("run.requested", "run.finished")):
        await db.execute(
            "INSERT INTO events VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
            (f"{run_id}.{kind}", seq, run_id, job_id, kind, ended, b'{"type":"x"}', ended),
        )
    await db.execute(
        "INSERT INTO record_errors VALUES (?, 0, 'E1', 'user', 'create', 'refused', 0)", (run_id,)
    )
    await db.execute("INSERT INTO batches VALUES (?, 1, 'h', 'applied', ?, 2, '')", (run_id, ended))
    for n, field in enumerate(("mail", "department")):
        await db.execute(
            "INSERT INTO changes (run_id, batch, n, job_id, object_type, key, action, field, "
            "old, new, container, secret, outcome, error, at) "
            "VALUES (?, 1, ?, ?, 'user', 'E2', 'update', ?, 'a', 'b', '', 0, 'applied', '', ?)",
            (run_id, n, job_id, field, ended),
        )
    await db.execute(
        "INSERT INTO log_lines VALUES (?, 'host-1-ab12', 1, 0, ?, ?, 'warning', 'runner', "
        "'host-1', 'slow destination', '{\"batch\":\"1\"}')",
        (run_id, job_id, ended),
    )


@pytest.fixture
async def db(tmp_path: Path) -> AsyncIterator[Database]:
    db = await open_database(tmp_path / "history.sqlite", write=True)
    await db.execute(
        "INSERT INTO job_versions VALUES (7, 'short', 1, '2026-01-01', 0, ?)",
        (msgspec.json.encode(SHORT),),
    )
    for run_id, (job_id, days) in RUNS.items():
        await add_run(db, run_id, job_id, days)
    try:
        yield db
    finally:
        await db.close()


async def runs_in(db: Database) -> dict[str, set[str]]:
    found = {}
    for table in TABLES:
        found[table] = {row[0] for row in await db.fetchall(f"SELECT DISTINCT run_id FROM {table}")}
    return found


async def test_runs_past_their_jobs_time_are_archived_then_removed(
    db: Database, tmp_path: Path
) -> None:
    home = tmp_path / "home"
    keep = await keeps(db, default_days=365)
    assert keep("short") == timedelta(days=30) and keep("long") == timedelta(days=365)
    pruned = await prune(db, home, keep, NOW)
    assert pruned.runs == 2 and pruned.rows == 2 * (1 + 2 + 1 + 1 + 2 + 1)
    left = {"short-new", "long-old"}
    assert await runs_in(db) == {table: left for table in TABLES}
    archived = sorted((home / FOLDER).rglob("*"))
    files = [p for p in archived if p.is_file()]
    assert [p.relative_to(home / FOLDER).parts[0] for p in files] == ["long", "short"]
    assert all(p.suffix == ".jsonl" for p in files), "no file left half-written"
    lines = [json.loads(line) for p in files for line in p.read_text().splitlines()]
    assert len(lines) == pruned.rows
    assert {(line["table"], line["run_id"]) for line in lines} == {
        (table, run) for table in TABLES for run in ("short-old", "long-ancient")
    }
    story = next(
        line for line in lines if line["table"] == "runs" and line["run_id"] == "short-old"
    )
    assert story["story"] == {"run_id": "short-old"} and story["requested_by"] == "ada"
    logged = next(line for line in lines if line["table"] == "log_lines")
    assert logged["fields"] == {"batch": "1"}, "a line's fields archived as JSON"
    assert await prune(db, home, keep, NOW) == type(pruned)(), "nothing more is due"


async def test_the_archive_is_on_disk_before_anything_is_removed(
    db: Database, tmp_path: Path
) -> None:
    await db.execute(
        "CREATE TRIGGER refuse BEFORE DELETE ON changes BEGIN SELECT RAISE(ABORT, 'no'); END"
    )
    before = await runs_in(db)
    with pytest.raises(DatabaseError):
        await prune(db, tmp_path, await keeps(db, default_days=365), NOW)
    assert await runs_in(db) == before, "the removal failed as a whole"
    files = [p for p in (tmp_path / FOLDER).rglob("*") if p.is_file()]
    assert len(files) == 2 and all(p.suffix == ".jsonl" for p in files)
    assert sum(len(p.read_text().splitlines()) for p in files) == 2 * 8


async def test_nothing_is_pruned_when_the_archive_cannot_be_written(
    db: Database, tmp_path: Path
) -> None:
    home = tmp_path / "home"
    home.mkdir()
    (home / FOLDER).write_text("a file where the archive's folder should be")
    before = await runs_in(db)
    with pytest.raises(OSError):
        await prune(db, home, await keeps(db, default_days=365), NOW)
    assert await runs_in(db) == before
