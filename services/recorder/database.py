"""The history database: SQLite under IDSYNC_HOME (history.sqlite, in WAL mode), or a
PostgreSQL database when IDSYNC_HISTORY_URL names one.

Every table is keyed by what the journal says (event ids, run ids, batch numbers), so
writing a fact again replaces it with itself: replaying the journal from the start
gives the same tables. One writer (the recorder's consumer) and readers (its answers)
on connections of their own.

One schema and one set of statements for both: statements are written with `?`
placeholders and `INSERT … ON CONFLICT` (which SQLite and PostgreSQL both speak), and
the PostgreSQL connection numbers the placeholders; the schema's SQLite types are
named for PostgreSQL by `dialect()` (integers 64-bit, text compared byte by byte as
SQLite does). Both raise DatabaseError.
"""

from __future__ import annotations

import asyncio
import itertools
import re
import sqlite3
import urllib.parse
from abc import ABC, abstractmethod
from collections.abc import AsyncIterator, Iterator, Sequence
from contextlib import AbstractAsyncContextManager, asynccontextmanager, contextmanager
from datetime import UTC, datetime
from functools import lru_cache
from pathlib import Path
from typing import Any, Literal

import aiosqlite
import asyncpg

from core.errors import BadInput

FILE = "history.sqlite"
Row = tuple[Any, ...]
Dialect = Literal["sqlite", "postgresql"]

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
-- The runs listed newest first (`runs` queries: the portal's dashboard), of all jobs or of
-- those in one state.
CREATE INDEX IF NOT EXISTS runs_by_time ON runs (requested_at);
CREATE INDEX IF NOT EXISTS runs_of_state ON runs (state, requested_at);
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
    identifier TEXT NOT NULL DEFAULT '', -- at the destination: a DN, a row's key (field=value)
    source TEXT NOT NULL DEFAULT '',     -- the source values a transformation made `new` from
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
ADDED_COLUMNS = (
    ("events", "stored", "TEXT NOT NULL DEFAULT ''"),
    ("changes", "identifier", "TEXT NOT NULL DEFAULT ''"),
    ("changes", "source", "TEXT NOT NULL DEFAULT ''"),
)
"""Columns added since the first release of the database: added to an older one."""
_TYPES = {
    "INTEGER": "BIGINT",  # journal sequences and revisions outgrow 32 bits
    "REAL": "DOUBLE PRECISION",
    "BLOB": "BYTEA",
    "TEXT": 'TEXT COLLATE "C"',  # times and keys compare and sort as in SQLite
}
SCHEMA_LOCK = 0x1D5C_4157
"""The PostgreSQL advisory lock taken while the tables are made (by one recorder at a time)."""


def dialect(sql: str, to: Dialect) -> str:
    """The schema's SQL for a database: SQLite's as written, PostgreSQL's types renamed."""
    if to == "sqlite":
        return sql
    return re.sub(r"\b(INTEGER|REAL|BLOB|TEXT)\b", lambda m: _TYPES[m.group(1)], sql)


def upsert(table: str, columns: str, key: str) -> str:
    """INSERT of one row that replaces the row with the same key (both dialects)."""
    names = [name.strip() for name in columns.split(",")]
    keys = {name.strip() for name in key.split(",")}
    marks = ", ".join("?" * len(names))
    update = ", ".join(f"{name} = excluded.{name}" for name in names if name not in keys)
    return (
        f"INSERT INTO {table} ({', '.join(names)}) VALUES ({marks}) "
        f"ON CONFLICT ({key}) DO UPDATE SET {update}"
    )


class DatabaseError(Exception):
    """The history database refused a statement or could not be reached."""


class Database(ABC):
    """A connection to the history database, whichever it is."""

    where: str
    """Where it is, for a log line (never a password)."""

    @abstractmethod
    async def execute(self, sql: str, values: Sequence[Any] = ()) -> None: ...

    @abstractmethod
    async def executemany(self, sql: str, rows: Sequence[Sequence[Any]]) -> None: ...

    @abstractmethod
    async def fetchall(self, sql: str, values: Sequence[Any] = ()) -> list[Row]: ...

    async def fetchone(self, sql: str, values: Sequence[Any] = ()) -> Row | None:
        rows = await self.fetchall(sql, values)
        return rows[0] if rows else None

    @abstractmethod
    def chunks(
        self, sql: str, values: Sequence[Any], size: int
    ) -> AsyncIterator[tuple[list[str], list[Row]]]:
        """The rows of a query `size` at a time, each chunk with the column names."""

    @abstractmethod
    def transaction(self) -> AbstractAsyncContextManager[None]:
        """Statements run in it are committed together, or rolled back on an exception."""

    @abstractmethod
    async def close(self) -> None: ...


@contextmanager
def _sqlite_errors() -> Iterator[None]:
    try:
        yield
    except sqlite3.Error as error:
        raise DatabaseError(str(error)) from error


class Sqlite(Database):
    def __init__(self, db: aiosqlite.Connection, path: Path) -> None:
        self.db = db
        self.where = str(path)

    @classmethod
    async def open(cls, path: Path, *, write: bool) -> Sqlite:
        path.parent.mkdir(parents=True, exist_ok=True)
        with _sqlite_errors():
            # Autocommit: transactions are opened and committed by transaction().
            db = await aiosqlite.connect(path, timeout=30, isolation_level=None)
            try:
                await db.execute("PRAGMA journal_mode=WAL")
                await db.execute("PRAGMA synchronous=NORMAL")
                if write:
                    await db.executescript(SCHEMA)
                    for table, column, kind in ADDED_COLUMNS:
                        cursor = await db.execute(f"PRAGMA table_info({table})")
                        if column not in {row[1] for row in await cursor.fetchall()}:
                            await db.execute(f"ALTER TABLE {table} ADD COLUMN {column} {kind}")
            except BaseException:
                # Failed, or the service stopped while the tables were made: the connection
                # (and its thread) goes with it, not left to answer a loop that is gone.
                await db.close()
                raise
        return cls(db, path)

    async def execute(self, sql: str, values: Sequence[Any] = ()) -> None:
        with _sqlite_errors():
            await self.db.execute(sql, values)

    async def executemany(self, sql: str, rows: Sequence[Sequence[Any]]) -> None:
        with _sqlite_errors():
            await self.db.executemany(sql, rows)

    async def fetchall(self, sql: str, values: Sequence[Any] = ()) -> list[Row]:
        with _sqlite_errors():
            cursor = await self.db.execute(sql, values)
            return [tuple(row) for row in await cursor.fetchall()]

    async def chunks(
        self, sql: str, values: Sequence[Any], size: int
    ) -> AsyncIterator[tuple[list[str], list[Row]]]:
        with _sqlite_errors():
            cursor = await self.db.execute(sql, values)
            names = [d[0] for d in cursor.description]
            while rows := list(await cursor.fetchmany(size)):
                yield names, [tuple(row) for row in rows]

    @asynccontextmanager
    async def transaction(self) -> AsyncIterator[None]:
        await self.execute("BEGIN")
        try:
            yield
        except BaseException:
            await self.execute("ROLLBACK")
            raise
        await self.execute("COMMIT")

    async def close(self) -> None:
        await self.db.close()


_PG_ERRORS = (asyncpg.PostgresError, asyncpg.InterfaceError, OSError, TimeoutError)


@contextmanager
def _pg_errors() -> Iterator[None]:
    try:
        yield
    except _PG_ERRORS as error:
        raise DatabaseError(str(error) or type(error).__name__) from error


@lru_cache(maxsize=256)
def numbered(sql: str) -> str:
    """`?` placeholders as PostgreSQL's `$1`, `$2`… (no statement has a `?` in a literal)."""
    counter = itertools.count(1)
    return re.sub(r"\?", lambda _: f"${next(counter)}", sql)


class Postgresql(Database):
    """One asyncpg connection, opened again when it was lost (between transactions).
    Its statements take turns: asyncpg runs one at a time on a connection."""

    def __init__(self, url: str, password: str | None) -> None:
        self.url = url
        self.password = password
        self.where = without_password(url)
        self._conn: asyncpg.Connection | None = None
        self._lock = asyncio.Lock()
        self._holder: asyncio.Task[Any] | None = None
        """The task whose transaction holds the connection."""

    @classmethod
    async def open(cls, url: str, password: str | None, *, write: bool) -> Postgresql:
        db = cls(url, password)
        if write:
            async with db.transaction(), db._using() as conn:
                await db.execute("SELECT pg_advisory_xact_lock(?)", (SCHEMA_LOCK,))
                with _pg_errors():
                    await conn.execute(dialect(SCHEMA, "postgresql"))  # several statements
                for table, column, kind in ADDED_COLUMNS:
                    await db.execute(
                        f"ALTER TABLE {table} ADD COLUMN IF NOT EXISTS {column} "
                        f"{dialect(kind, 'postgresql')}"
                    )
        else:
            async with db._using():
                pass  # reachable now, not at the first question
        return db

    async def _connected(self) -> asyncpg.Connection:
        if self._conn is None or self._conn.is_closed():
            with _pg_errors():
                self._conn = await asyncpg.connect(self.url, password=self.password, timeout=30)
        return self._conn

    @asynccontextmanager
    async def _using(self) -> AsyncIterator[asyncpg.Connection]:
        if self._holder is not None and self._holder is asyncio.current_task():
            assert self._conn is not None
            yield self._conn  # within this task's transaction
            return
        async with self._lock:
            yield await self._connected()

    async def execute(self, sql: str, values: Sequence[Any] = ()) -> None:
        async with self._using() as conn:
            with _pg_errors():
                await conn.execute(numbered(sql), *values)

    async def executemany(self, sql: str, rows: Sequence[Sequence[Any]]) -> None:
        if not rows:
            return
        async with self._using() as conn:
            with _pg_errors():
                await conn.executemany(numbered(sql), rows)

    async def fetchall(self, sql: str, values: Sequence[Any] = ()) -> list[Row]:
        async with self._using() as conn:
            with _pg_errors():
                return [tuple(row) for row in await conn.fetch(numbered(sql), *values)]

    async def chunks(
        self, sql: str, values: Sequence[Any], size: int
    ) -> AsyncIterator[tuple[list[str], list[Row]]]:
        async with self.transaction(), self._using() as conn:  # a cursor lives in one
            with _pg_errors():
                cursor = await conn.cursor(numbered(sql), *values)
                while rows := await cursor.fetch(size):
                    yield list(rows[0].keys()), [tuple(row) for row in rows]

    @asynccontextmanager
    async def transaction(self) -> AsyncIterator[None]:
        async with self._lock:
            conn = await self._connected()
            self._holder = asyncio.current_task()
            try:
                with _pg_errors():
                    async with conn.transaction():
                        yield
            finally:
                self._holder = None

    async def close(self) -> None:
        if self._conn is not None:
            with _pg_errors():
                await self._conn.close()


def without_password(url: str) -> str:
    parts = urllib.parse.urlsplit(url)
    if parts.password is None:
        return url
    host = parts.netloc.rpartition("@")[2]
    user = urllib.parse.quote(urllib.parse.unquote(parts.username or ""))
    return urllib.parse.urlunsplit(parts._replace(netloc=f"{user}@{host}"))


def path_in(home: Path) -> Path:
    return home / FILE


def history_url(url: str | None, password_file: Path | None) -> str | None:
    """IDSYNC_HISTORY_URL checked (None: the SQLite file). BadInput says what to fix."""
    if not url:
        if password_file is not None:
            raise BadInput("IDSYNC_HISTORY_PASSWORD_FILE is set but no IDSYNC_HISTORY_URL")
        return None
    parts = urllib.parse.urlsplit(url)
    if parts.scheme not in ("postgresql", "postgres"):
        raise BadInput(
            f"IDSYNC_HISTORY_URL is {without_password(url)!r}: expected "
            "postgresql://user@host:port/database"
        )
    if parts.password is not None and password_file is not None:
        raise BadInput(
            "IDSYNC_HISTORY_URL holds a password and IDSYNC_HISTORY_PASSWORD_FILE is set: "
            "give it once"
        )
    if password_file is not None and not password_file.is_file():
        raise BadInput(f"IDSYNC_HISTORY_PASSWORD_FILE: {password_file} is not a file")
    return url


async def open_history(
    home: Path, url: str | None, password_file: Path | None, *, write: bool
) -> Database:
    """The history database the settings name, its tables made if need be (`write`)."""
    if history_url(url, password_file) is None:
        return await Sqlite.open(path_in(home), write=write)
    assert url is not None
    password = None
    if password_file is not None:
        try:
            password = (await asyncio.to_thread(password_file.read_text)).strip()
        except OSError as error:
            raise DatabaseError(f"IDSYNC_HISTORY_PASSWORD_FILE: {error}") from error
    return await Postgresql.open(url, password, write=write)


async def open_database(path: Path, *, write: bool) -> Sqlite:
    """The SQLite history database at `path`, its tables made if need be."""
    return await Sqlite.open(path, write=write)


def stamp(when: datetime) -> str:
    """A server time as the database keeps it: UTC, always with microseconds, so that
    times compare as text."""
    return when.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%f+00:00")
