"""The history in PostgreSQL (IDSYNC_HISTORY_URL): the journal projected into it gives
the tables and the answers the SQLite file gives, a replay gives the same tables again,
and the database-level behaviours hold there too."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import asyncpg
import msgspec
import pytest

from schemas.history import HistoryQuery
from schemas.logs import LogBatch, LogLine
from services.cli.client import Session
from services.common.history_client import ask
from services.common.host import run_services
from services.common.jetstream import RECORDER, RECORDER_LOGS, ensure_infrastructure
from services.common.settings import Settings
from services.recorder.database import DatabaseError, Postgresql, open_history
from services.recorder.logs import COLUMNS as LOG_COLUMNS
from services.recorder.logs import DROPPED, log_line
from services.recorder.logs import keep as keep_logs
from services.recorder.retention import FOLDER, keeps, prune
from services.recorder.retention import TABLES as RETAINED
from services.recorder.versions import planned_at, version_at
from tests.postgresql_server import Server
from tests.unit.test_history_retention import NOW, RUNS, SHORT, add_run, runs_in

from .conftest import JOB_ID, Files, RunServices, apply_files, started
from .history import TABLES, recorded, tables, three_runs

COMPARED = (*TABLES, "job_versions")


@asynccontextmanager
async def recorder(settings: Settings) -> AsyncIterator[None]:
    """A recorder in this process with these settings."""
    stop, ready = asyncio.Event(), asyncio.Event()
    task = asyncio.create_task(
        run_services(["recorder"], settings, settings.nats_url or "", stop, ready)
    )
    await started(task, ready)
    try:
        yield
    finally:
        stop.set()
        await asyncio.wait_for(task, 20)


async def afresh(session: Session, settings: Settings) -> None:
    """The recorder's consumers removed: the next recorder reads the journal from its start."""
    for consumer in (RECORDER, RECORDER_LOGS):
        await session.js.delete_consumer(consumer.stream, consumer.name)
    await ensure_infrastructure(session.js, settings)


async def pg_tables(
    server: Server, names: tuple[str, ...] = COMPARED
) -> dict[str, list[tuple[object, ...]]]:
    conn = await asyncpg.connect(server.dsn())
    try:
        return {
            t: sorted(tuple(row) for row in await conn.fetch(f"SELECT * FROM {t}")) for t in names
        }
    finally:
        await conn.close()


async def answers(session: Session, runs: list[str], key: str) -> list[bytes]:
    """What `idsync run review` and `idsync history` ask, the replies as JSON."""
    queries = [
        HistoryQuery(what=what, run_id=run, limit=limit)
        for run in runs
        for what in ("run", "errors", "events", "changes")
        for limit in (1000, 7)
    ]
    queries += [
        HistoryQuery(what="object", key=key),
        HistoryQuery(what="object", key=key, field="department", since="2000-01-01"),
        HistoryQuery(what="why", job_id=JOB_ID, key=key, field="department"),
        HistoryQuery(what="why", job_id=JOB_ID, key=key, field="given_name"),
        HistoryQuery(what="versions", job_id=JOB_ID),
    ]
    replies = []
    for query in queries:
        replies.append(msgspec.json.encode(await ask(session, query)))
    return replies


async def test_postgresql_holds_the_tables_and_answers_of_sqlite_and_a_replay_the_same(
    files: Files,
    session: Session,
    services: RunServices,
    settings: Settings,
    pg_database: Server,
    tmp_path: Path,
) -> None:
    rows = files.write(40, batch_size=7)
    await apply_files(session, files)
    key = rows[3]["employee_id"]
    async with services():
        runs = await three_runs(files, session, rows)
        for run in runs:
            await recorded(session, run)
        in_sqlite = await answers(session, runs, key)
    sqlite_tables = tables(settings, COMPARED)

    # The password in the URL, then in a file of its own.
    in_url = msgspec.structs.replace(settings, history_url=pg_database.dsn())
    secret = tmp_path / "history-password"
    secret.write_text(pg_database.password + "\n")
    bare = pg_database.dsn().replace(f":{pg_database.password}@", "@")
    in_file = msgspec.structs.replace(settings, history_url=bare, history_password_file=secret)

    await afresh(session, settings)
    async with recorder(in_url):
        for run in runs:
            await recorded(session, run)
        in_postgresql = await answers(session, runs, key)
    assert in_postgresql == in_sqlite
    projected = await pg_tables(pg_database)
    assert projected == sqlite_tables and len(projected["changes"]) > 40 * 6

    pg_database.psql(f"DROP TABLE {', '.join(COMPARED)}, log_lines, progress")
    await afresh(session, settings)
    async with recorder(in_file):
        for run in runs:
            await recorded(session, run)
    assert await pg_tables(pg_database) == projected


OLD_EVENTS = """CREATE TABLE events (id TEXT PRIMARY KEY, seq BIGINT NOT NULL,
run_id TEXT NOT NULL, job_id TEXT NOT NULL, type TEXT NOT NULL, at TEXT NOT NULL,
body BYTEA NOT NULL);
INSERT INTO events VALUES ('e1', 1, 'r', 'j', 'run.started', 'T1', '\\x00');
CREATE TABLE changes (run_id TEXT NOT NULL, batch BIGINT NOT NULL, n BIGINT NOT NULL,
job_id TEXT NOT NULL, object_type TEXT NOT NULL, key TEXT NOT NULL, action TEXT NOT NULL,
field TEXT NOT NULL, old TEXT NOT NULL, new TEXT NOT NULL, container TEXT NOT NULL,
secret BIGINT NOT NULL, outcome TEXT NOT NULL, error TEXT NOT NULL, at TEXT NOT NULL,
PRIMARY KEY (run_id, batch, n));
INSERT INTO changes VALUES ('r', 1, 0, 'j', 'user', 'E1', 'update', 'mail', 'a', 'b', '',
0, 'applied', '', 'T2');"""


async def test_an_older_postgresql_database_gains_the_columns_added_since(
    pg_database: Server, tmp_path: Path
) -> None:
    pg_database.psql(OLD_EVENTS)
    db = await open_history(tmp_path, pg_database.dsn(), None, write=True)
    try:
        assert isinstance(db, Postgresql) and pg_database.password not in db.where
        assert await db.fetchall("SELECT id, stored FROM events") == [("e1", "")]
        assert await db.fetchall("SELECT key, identifier FROM changes") == [("E1", "")]
        assert await planned_at(db, "r") == "T1"
        # Sequences past 32 bits, and the version in force by the time as text.
        await db.execute(
            "INSERT INTO job_versions VALUES (?, 'j', 1, '2026-01-01T10', 0, NULL)", (1 << 40,)
        )
        await db.execute(
            "INSERT INTO events VALUES ('e2', ?, 'b', 'j', 'run.started', '', ?, ?)",
            (1 << 40, b"\x00", "2026-01-02T11"),
        )
        found = await version_at(db, "j", await planned_at(db, "b"))
        assert found is not None and found.revision == 1 << 40
        with pytest.raises(DatabaseError):
            async with db.transaction():
                await db.execute("DELETE FROM events")
                await db.execute("INSERT INTO events (id) VALUES ('refused: columns missing')")
        assert len(await db.fetchall("SELECT id FROM events")) == 2, "rolled back as a whole"
    finally:
        await db.close()


async def test_a_postgresql_server_that_refuses_says_so_as_a_database_error(
    pg_database: Server, tmp_path: Path
) -> None:
    wrong = pg_database.dsn().replace(pg_database.password, "not-the-password")
    with pytest.raises(DatabaseError, match="password"):
        await open_history(tmp_path, wrong, None, write=True)


async def test_log_lines_and_retention_in_postgresql(pg_database: Server, tmp_path: Path) -> None:
    db = await open_history(tmp_path, pg_database.dsn(), None, write=True)
    try:
        batch = LogBatch(
            job_id="j",
            run_id="r",
            source="host-1-ab12",
            number=1,
            lines=[LogLine(at="T1", level="info", event="planned", fields={"batches": "2"})],
            dropped=3,
        )
        for _ in range(2):  # delivered again: the same rows
            await keep_logs(db, batch)
            rows = await db.fetchall(f"SELECT {LOG_COLUMNS} FROM log_lines ORDER BY n")
            assert [log_line(row).event for row in rows] == ["planned", DROPPED]

        await db.execute(
            "INSERT INTO job_versions VALUES (7, 'short', 1, '2026-01-01', 0, ?)",
            (msgspec.json.encode(SHORT),),
        )
        for run_id, (job_id, days) in RUNS.items():
            await add_run(db, run_id, job_id, days)
        home = tmp_path / "home"
        pruned = await prune(db, home, await keeps(db, default_days=365), NOW)
        assert pruned.runs == 2 and pruned.rows == 2 * 8
        await db.execute("DELETE FROM log_lines WHERE run_id = 'r'")
        assert await runs_in(db) == {table: {"short-new", "long-old"} for table in RETAINED}
        archived = [line for p in (home / FOLDER).rglob("*.jsonl") for line in p.open()]
        assert len(archived) == 2 * 8
    finally:
        await db.close()


async def test_a_lost_postgresql_connection_is_opened_again(
    pg_database: Server, tmp_path: Path
) -> None:
    db = await open_history(tmp_path, pg_database.dsn(), None, write=True)
    try:
        pg_database.psql(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
            f"WHERE datname = '{pg_database.database}' AND pid <> pg_backend_pid()"
        )
        with pytest.raises(DatabaseError):
            await db.fetchall("SELECT count(*) FROM runs")
        assert await db.fetchall("SELECT count(*) FROM runs") == [(0,)]
    finally:
        await db.close()
