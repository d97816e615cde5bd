"""One table of one SQLite database file: the connection to it, what it knows of the
table (its columns, their affinities, its unique indexes) and how SQLite's errors are
told. read.py and write.py build on it."""

from __future__ import annotations

import asyncio
import sqlite3
import urllib.parse
import weakref
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import TypeVar, cast

import aiosqlite

from core.errors import BadInput, IdsyncError, Transient, WriteFailed
from schemas.connections import SqliteConnection
from schemas.jobs import Endpoint
from services.common.settings import sqlite_busy_timeout

from ..base import Layout
from ..changes import FieldChanges
from . import kept
from .kept import FileId
from .reach import unwritable
from .statements import Statements
from .values import Probe, ScopeProbe, affinity, quote

_writers: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, dict[Path, asyncio.Lock]] = (
    weakref.WeakKeyDictionary()
)


def writer(path: Path) -> asyncio.Lock:
    """The lock of this process's writers to one database file (per event loop: a lock
    belongs to the loop it was first used in)."""
    locks = _writers.setdefault(asyncio.get_running_loop(), {})
    return locks.setdefault(path.absolute(), asyncio.Lock())


def _code(e: sqlite3.Error) -> int:
    """The primary result code of an error (its extended code's low byte)."""
    return int(getattr(e, "sqlite_errorcode", 0)) & 0xFF


def busy(e: sqlite3.Error) -> bool:
    return _code(e) in (sqlite3.SQLITE_BUSY, sqlite3.SQLITE_LOCKED)


T = TypeVar("T")


async def in_thread(db: aiosqlite.Connection, work: Callable[[sqlite3.Connection], T]) -> T:
    """`work` done on the connection in its own thread, in one round trip: a batch's steps
    each awaited apart wait for the event loop in between, holding the writer meanwhile."""
    run = cast(Callable[..., Awaitable[T]], db._execute)  # aiosqlite's queue to its thread
    return await run(work, db._conn)


_REFUSED = (sqlite3.SQLITE_CANTOPEN, sqlite3.SQLITE_READONLY, sqlite3.SQLITE_PERM)
"""Result codes of a file the system will not let SQLite write."""


class SqliteTable:
    """One table of one SQLite database file."""

    async def size_hint(self) -> int:
        """How many records the scope holds (0 while there is no table)."""
        if self._db is None or not self._columns:
            return 0
        async with self._db.execute(f"SELECT count(*) FROM {self._q}{self._where}") as cur:
            row = await cur.fetchone()
        return int(row[0]) if row else 0

    def __init__(
        self,
        connection: SqliteConnection,
        endpoint: Endpoint,
        layout: Layout,
        *,
        timeout: float | None = None,
    ) -> None:
        if not endpoint.table:
            raise BadInput("sqlite: the endpoint names no table; add `table: <name>`")
        self._path = Path(connection.path)
        self._table = endpoint.table
        self._q = quote(endpoint.table)
        # The endpoint's scope: a WHERE condition the job's author wrote (never data).
        self._where = f" WHERE ({endpoint.query})" if endpoint.query else ""
        self._query = endpoint.query
        self._scope: ScopeProbe | None = None
        """The query, tested on the records a destination writes (read.py `canonical`)."""
        self._layout = layout
        self._timeout = sqlite_busy_timeout() if timeout is None else timeout
        self._db: aiosqlite.Connection | None = None
        self._columns: dict[str, str] = {}  # column -> affinity; empty while there is no table
        self._unique: list[frozenset[str]] = []  # the column sets of unique indexes (BINARY)
        self._probe = Probe()
        self._changes: FieldChanges | None = None
        self._write = False
        self._wal = False
        self._statements = Statements(self._q, endpoint.query)
        self._kept_as = self._path.absolute()
        self._file: FileId | None = None
        """The file the connection was opened on, when it may be kept after (kept.py)."""
        self._keep = False
        """Kept when closed: it has written a batch, and nothing since (no read, whose
        cursor might be left open; no error)."""

    async def open(self, *, write: bool) -> None:
        await self.close()
        self._write = write
        file = await asyncio.to_thread(self._check_path, write)
        if file is None:
            if not write:
                raise BadInput(f"sqlite: database {self._path} not found; check `path`")
            return  # a new destination: the file is created by the first apply
        await self._connect(create=False, file=file)
        if not self._columns and not write:
            raise BadInput(f"sqlite: {self._path} has no table {self._table!r}")

    def source_fields(self) -> list[str] | None:
        """The table's columns (after `open`); None for a table not there yet."""
        return list(self._columns) or None

    def _check_path(self, write: bool) -> FileId | None:
        """The file's identity, None when there is none; with `write`, WriteFailed when it
        could not be written."""
        if write and (why := unwritable(self._path)) is not None:
            raise WriteFailed(f"sqlite: {why}")
        if self._path.is_dir():
            raise BadInput(f"sqlite: {self._path} is a folder, not a file")
        try:
            found = self._path.stat()
        except FileNotFoundError:
            return None
        return found.st_dev, found.st_ino

    async def _connect(self, *, create: bool, file: FileId | None = None) -> aiosqlite.Connection:
        """Connected to the database; a writer of a file known to be there (`file`: it,
        as found before connecting) is lent a connection kept from an earlier write."""
        self._file = file if self._write else None
        if self._file is not None and (db := kept.lend(self._kept_as, self._file, self._timeout)):
            self._db = db
            try:
                await self._load_schema()
            except (sqlite3.Error, ValueError):  # not usable after all: a new one
                self._file, self._db = None, None
                await db.close()
            else:
                return db
        quoted = urllib.parse.quote(str(self._path.absolute()))
        uri = f"file:{quoted}?mode={'rwc' if create else 'rw'}"
        try:
            connecting = aiosqlite.connect(
                uri, uri=True, timeout=self._timeout, isolation_level=None
            )
            # A kept connection's thread does not hold the process open at exit: its
            # writes are committed, and SQLite recovers its log on the next open.
            connecting._thread.daemon = True
            self._db = await connecting
            await self._load_schema()
        except sqlite3.Error as e:
            self._file = None
            await self.close()
            raise self._error(e, "open") from e
        return self._db

    async def _load_schema(self) -> None:
        """The table's columns and unique indexes, in one query (a batch reads them again
        once it holds the write lock, in the same round trip as the rest: write.py)."""
        assert self._db is not None
        await in_thread(self._db, self._schema_in)

    def _schema_in(self, conn: sqlite3.Connection) -> None:
        """`_load_schema` in the connection's thread."""
        sql = (
            "SELECT 0, name, type, NULL FROM pragma_table_info(?1) UNION ALL "
            "SELECT 1, il.name, ii.name, ii.coll FROM pragma_index_list(?1) AS il "
            'JOIN pragma_index_xinfo(il.name) AS ii WHERE il."unique" = 1 AND ii.key = 1'
        )
        rows = conn.execute(sql, (self._table,)).fetchall()
        strict = conn.execute(
            "SELECT 1 FROM pragma_table_list(?1) WHERE type = 'table' AND strict", (self._table,)
        ).fetchone()
        columns: dict[str, str] = {}
        indexed: dict[str, set[str]] = {}
        other_case: set[str] = set()
        for index_row, name, detail, collation in rows:
            if index_row:
                indexed.setdefault(str(name), set()).add(str(detail))
                if str(collation).upper() != "BINARY":
                    other_case.add(str(name))  # "E2" a conflict of "e2": no upsert by it
            elif strict and str(detail).upper() == "ANY":
                columns[str(name)] = "BLOB"  # a STRICT table's ANY keeps a value as given
            else:
                columns[str(name)] = affinity(str(detail))
        if columns != self._columns:
            self._probe.reset(columns)
            self._scope = None  # made again with the table's new affinities
        self._columns = columns
        self._unique = [frozenset(names) for i, names in indexed.items() if i not in other_case]

    def _error(self, e: sqlite3.Error, doing: str) -> IdsyncError:
        if busy(e):
            return Transient(f"sqlite: {self._path} is locked by another program ({e}); retry")
        if _code(e) == sqlite3.SQLITE_NOTADB:
            return BadInput(f"sqlite: {self._path} is not a SQLite database")
        if not self._write:
            return BadInput(f"sqlite: cannot {doing} {self._path} (table {self._table!r}): {e}")
        why = unwritable(self._path) if _code(e) in _REFUSED else None
        return WriteFailed(
            f"sqlite: cannot {doing} {self._path} (table {self._table!r}): {e}"
            + (f"; {why}" if why else "")
        )

    async def close(self) -> None:
        db, self._db = self._db, None
        self._wal = False
        if db is None:
            return
        file, self._file = self._file, None
        keep, self._keep = self._keep, False
        if (
            keep
            and file is not None
            and await kept.give_back(self._kept_as, file, self._timeout, db)
        ):
            return
        await db.close()
