"""SQLite tables via aiosqlite: one row per object, one TEXT (or typed) column per field.

Names are always quoted identifiers and values always parameters. A batch is one
transaction; changes on distinct keys go through `executemany` in a savepoint, and
only when that fails are they replayed one savepoint each, so a rejected change
becomes its own outcome while bulk loads stay as fast as plain inserts.
"""

from __future__ import annotations

import asyncio
import gc
import os
import sqlite3
import threading
import urllib.parse
import weakref
from collections.abc import AsyncIterator, Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiosqlite

from core.errors import BadInput, IdsyncError, Transient, WriteFailed
from schemas.connections import SqliteConnection
from schemas.jobs import Endpoint
from schemas.plan import Change
from schemas.values import Binary, Record, Value, as_text, normalize, record_from_cells, split_text
from services.common.settings import sqlite_busy_timeout

from .base import Layout, Outcome
from .changes import FieldChanges, filtered, needs_field
from .writable import cannot_create_in

LIST_JOINER = ";"
"""Joins a list written to a field the layout does not declare multi-valued."""
_CHUNK = 500  # bound parameters per existence query, far below SQLite's limit

Param = str | bytes | None
Key = tuple[tuple[str, ...], tuple[Param, ...]]  # (key fields, their values as read back)


def unwritable(path: Path) -> str | None:
    """Why a job could not write the database at `path` — the file, or the folder where
    SQLite keeps its journal next to it; None when it can."""
    folder = path.parent
    if path.is_dir():
        return f"{path} is a folder, not a file"
    if not folder.is_dir():
        return f"folder {folder} does not exist; create it or fix `path`"
    if path.exists() and not os.access(path, os.W_OK):
        return f"{path} is read-only; check its permissions"
    if (why := cannot_create_in(folder)) is not None:
        return (
            f"cannot write in folder {folder} ({why}): SQLite writes its journal next to "
            f"{path.name}, so the folder must be writable too"
        )
    return None


def quote(name: str) -> str:
    """An SQL identifier for any name: double quotes, embedded quotes doubled."""
    if "\x00" in name:
        raise BadInput(f"sqlite: the name {name!r} contains a NUL character")
    return '"' + name.replace('"', '""') + '"'


def affinity(declared: str) -> str:
    """The column affinity SQLite derives from a declared type (rules of datatype3.html)."""
    t = declared.upper()
    if "INT" in t:
        return "INTEGER"
    if any(s in t for s in ("CHAR", "CLOB", "TEXT")):
        return "TEXT"
    if "BLOB" in t or not t:
        return "BLOB"
    if any(s in t for s in ("REAL", "FLOA", "DOUB")):
        return "REAL"
    return "NUMERIC"


@contextmanager
def _gc_paused() -> Iterator[None]:
    """Preparing a large batch allocates millions of short-lived, acyclic objects: left on,
    the cycle collector rescans the whole heap over and over, which tripled bulk load time."""
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()


_writers: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, dict[Path, asyncio.Lock]] = (
    weakref.WeakKeyDictionary()
)


def _writer(path: Path) -> asyncio.Lock:
    """The lock of this process's writers to one database file (per event loop: a lock
    belongs to the loop it was first used in)."""
    locks = _writers.setdefault(asyncio.get_running_loop(), {})
    return locks.setdefault(path.absolute(), asyncio.Lock())


def _code(e: sqlite3.Error) -> int:
    """The primary result code of an error (its extended code's low byte)."""
    return int(getattr(e, "sqlite_errorcode", 0)) & 0xFF


def _busy(e: sqlite3.Error) -> bool:
    return _code(e) in (sqlite3.SQLITE_BUSY, sqlite3.SQLITE_LOCKED)


_REFUSED = (sqlite3.SQLITE_CANTOPEN, sqlite3.SQLITE_READONLY, sqlite3.SQLITE_PERM)
"""Result codes of a file the system will not let SQLite write."""


def _text(raw: object) -> str:
    """A stored number or text as text: REAL in its shortest repr ("1.5", "3.0")."""
    return repr(raw) if isinstance(raw, float) else str(raw)


def _key_part(raw: object) -> Param:
    """A stored key value as its change would hold it: text, or bytes for a BLOB."""
    return raw if raw is None or isinstance(raw, bytes) else _text(raw)


class _Probe:
    """An in-memory table with the destination's numeric affinities: SQLite itself says
    how a text value would be stored, so canonical() cannot disagree with a real write."""

    def __init__(self) -> None:
        self._db = sqlite3.connect(":memory:", check_same_thread=False, isolation_level=None)
        self._lock = threading.Lock()
        self.slots: dict[str, str] = {}

    def reset(self, affinities: dict[str, str]) -> None:
        numeric = [n for n, a in affinities.items() if a in ("INTEGER", "REAL", "NUMERIC")]
        with self._lock:
            self.slots = {n: f"c{i}" for i, n in enumerate(numeric)}
            self._db.execute("DROP TABLE IF EXISTS probe")
            if numeric:
                cols = ", ".join(f"{self.slots[n]} {affinities[n]}" for n in numeric)
                self._db.execute(f"CREATE TABLE probe ({cols})")

    def numeric(self, names: Iterable[str]) -> bool:
        """Whether any of the fields has a numeric column (that converts what it stores)."""
        return bool(self.slots) and any(n in self.slots for n in names)

    def store(self, params: dict[str, Param]) -> dict[str, Any]:
        hits = [n for n, p in params.items() if n in self.slots and isinstance(p, str)]
        if not hits:
            return params
        cols = ", ".join(self.slots[n] for n in hits)
        with self._lock:
            self._db.execute(
                f"INSERT INTO probe ({cols}) VALUES ({', '.join('?' * len(hits))})",
                [params[n] for n in hits],
            )
            row = self._db.execute(f"SELECT {cols} FROM probe").fetchone()
            self._db.execute("DELETE FROM probe")
        return {**params, **dict(zip(hits, row, strict=True))}


@dataclass(slots=True)
class _Op:
    """One change, ready to bind: key fields and parameters, the fields it writes."""

    index: int
    change: Change
    where: tuple[str, ...]
    key_params: tuple[Param, ...]
    key: Key
    names: tuple[str, ...]
    """The fields written: `set`, then `clear` (bound as NULL)."""
    values: tuple[Param, ...]

    def existing(self) -> _Op:
        """What a create writes to a row that exists: all but its create-only fields."""
        keep = set(self.change.create_only)
        if not keep:
            return self
        pairs = [(n, v) for n, v in zip(self.names, self.values, strict=True) if n not in keep]
        return _Op(
            self.index,
            self.change,
            self.where,
            self.key_params,
            self.key,
            tuple(n for n, _ in pairs),
            tuple(v for _, v in pairs),
        )

    def rekeys(self) -> bool:
        """Whether an update changes a key field: then it must run alone, in order."""
        new = dict(zip(self.names, self.values, strict=True))
        return any(new.get(f, p) != p for f, p in zip(self.where, self.key_params, strict=True))


class SqliteProvider:
    """One table of one SQLite database file."""

    rereadable = True
    """Reading the table again is cheap: large plans read it twice (planning/low_memory)."""

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
        self._layout = layout
        self._timeout = sqlite_busy_timeout() if timeout is None else timeout
        self._db: aiosqlite.Connection | None = None
        self._columns: dict[str, str] = {}  # column -> affinity; empty while there is no table
        self._unique: list[frozenset[str]] = []  # the column sets of unique indexes
        self._probe = _Probe()
        self._changes: FieldChanges | None = None
        self._write = False
        self._wal = False
        self._statements: dict[
            tuple[str, tuple[str, ...], tuple[str, ...], tuple[str, ...]],
            tuple[str, tuple[int, ...]],
        ] = {}

    async def open(self, *, write: bool) -> None:
        await self.close()
        self._write = write
        if not await asyncio.to_thread(self._check_path, write):
            if not write:
                raise BadInput(f"sqlite: database {self._path} not found; check `path`")
            return  # a new destination: the file is created by the first apply
        await self._connect(create=False)
        if not self._columns and not write:
            raise BadInput(f"sqlite: {self._path} has no table {self._table!r}")

    def source_fields(self) -> list[str] | None:
        """The table's columns (after `open`); None for a table not there yet."""
        return list(self._columns) or None

    def _check_path(self, write: bool) -> bool:
        """Whether the file exists; with `write`, WriteFailed when it could not be written."""
        if write and (why := unwritable(self._path)) is not None:
            raise WriteFailed(f"sqlite: {why}")
        if self._path.is_dir():
            raise BadInput(f"sqlite: {self._path} is a folder, not a file")
        return self._path.exists()

    async def _connect(self, *, create: bool) -> aiosqlite.Connection:
        quoted = urllib.parse.quote(str(self._path.absolute()))
        uri = f"file:{quoted}?mode={'rwc' if create else 'rw'}"
        try:
            self._db = await aiosqlite.connect(
                uri, uri=True, timeout=self._timeout, isolation_level=None
            )
            await self._load_schema()
        except sqlite3.Error as e:
            await self.close()
            raise self._error(e, "open") from e
        return self._db

    async def _load_schema(self) -> None:
        assert self._db is not None
        sql = "SELECT name, type FROM pragma_table_info(?)"
        async with self._db.execute(sql, (self._table,)) as cur:
            rows = await cur.fetchall()
        self._columns = {str(name): affinity(str(t)) for name, t in rows}
        self._probe.reset(self._columns)
        sql = (
            "SELECT il.name, ii.name FROM pragma_index_list(?) AS il "
            'JOIN pragma_index_info(il.name) AS ii WHERE il."unique" = 1'
        )
        async with self._db.execute(sql, (self._table,)) as cur:
            indexed: dict[str, set[str]] = {}
            for index, column in await cur.fetchall():
                indexed.setdefault(str(index), set()).add(str(column))
        self._unique = [frozenset(columns) for columns in indexed.values()]

    def _error(self, e: sqlite3.Error, doing: str) -> IdsyncError:
        if _busy(e):
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

    async def read(self, batch_size: int) -> AsyncIterator[list[Record]]:
        if self._db is None or not self._columns:
            return  # a destination that does not exist yet
        try:
            async with self._db.execute(f"SELECT * FROM {self._q}{self._where}") as cur:
                names = [d[0] for d in cur.description]
                delimiters = [self._layout.multi_valued.get(name) for name in names]
                while rows := await cur.fetchmany(batch_size):
                    yield [
                        record_from_cells(names, row, delimiters)
                        if all(type(cell) is str or cell is None for cell in row)
                        else self._record(names, row)
                        for row in rows
                    ]
        except sqlite3.Error as e:
            raise self._error(e, "read") from e

    def read_changed(
        self, batch_size: int, since: str | None, field: str | None
    ) -> AsyncIterator[list[Record]]:
        """Compared in Python as CSV compares them (changes.py), so that a typed column
        and its text agree; the rows are still streamed, never held."""
        self._changes = FieldChanges(needs_field("sqlite", field), since)
        return filtered(self.read(batch_size), self._changes)

    def watermark(self) -> str | None:
        return self._changes.watermark() if self._changes else None

    def _record(self, names: list[str], row: Sequence[object]) -> Record:
        return normalize(
            {name: self._value(name, raw) for name, raw in zip(names, row, strict=True)}
        )

    def _value(self, name: str, raw: object) -> Value | None:
        """A stored value as a record value: REAL by repr, INTEGER by str, BLOB as Binary."""
        if raw is None:
            return None
        if isinstance(raw, bytes):
            return Binary(raw)
        return split_text(_text(raw), self._layout.multi_valued.get(name))

    def _param(self, name: str, value: Value) -> Param:
        if type(value) is str:  # the common case first: this runs for every value written
            return value or None
        if isinstance(value, Binary):
            return value.data or None
        return as_text(value, self._layout.multi_valued.get(name, LIST_JOINER)) or None

    def canonical(self, record: Record) -> Record:
        if not self._probe.numeric(record) and self._text_only(record):
            return record  # text columns give back the text they were given
        stored = self._probe.store({name: self._param(name, v) for name, v in record.items()})
        return normalize({name: self._value(name, raw) for name, raw in stored.items()})

    def _text_only(self, record: Record) -> bool:
        """Whether the record reads back as it is: non-empty text, and non-empty lists only
        in multi-valued fields whose values are non-empty and do not hold the delimiter."""
        multi = self._layout.multi_valued
        for name, value in record.items():
            if type(value) is str and value:
                continue
            delimiter = multi.get(name)
            if not isinstance(value, list) or delimiter is None or not value:
                return False
            if any(not item or delimiter in item for item in value):
                return False
        return True

    async def apply(self, changes: list[Change]) -> list[Outcome]:
        if not changes:
            return []
        # One writer at a time per database in this process: batches applied side by side
        # queue here, instead of in SQLite's busy handler, which sleeps in growing steps.
        async with _writer(self._path):
            return await self._apply_locked(changes)

    async def _apply_locked(self, changes: list[Change]) -> list[Outcome]:
        self._write = True
        try:
            db = self._db or await self._connect(create=True)
            if not self._wal:
                await db.execute("PRAGMA journal_mode=WAL")
                self._wal = True
            await db.execute("BEGIN IMMEDIATE")
            await self._load_schema()
            await self._ensure_table(db, changes)
            outcomes = await self._apply_all(db, changes)
            await db.execute("COMMIT")
            return outcomes
        except BaseException as e:
            await self._rollback()
            if isinstance(e, sqlite3.Error):
                raise self._error(e, "write to") from e
            raise

    async def _rollback(self) -> None:
        if self._db is None:
            return
        try:
            if self._db.in_transaction:
                await self._db.execute("ROLLBACK")
            await self._load_schema()
        except (sqlite3.Error, ValueError):
            pass  # the connection is gone; the next apply reconnects

    async def _ensure_table(self, db: aiosqlite.Connection, changes: list[Change]) -> None:
        """Create the table (TEXT columns, UNIQUE index over the keys) or add missing columns."""
        wanted = dict.fromkeys([*self._layout.fields, *self._layout.keys])
        known = wanted.keys()
        for change in changes:
            if change.set.keys() <= known and change.match.keys() <= known:
                continue  # the common case, checked in C
            for name in (*change.match, *change.set):
                wanted.setdefault(name)
        if not self._columns:
            cols = ", ".join(f"{quote(name)} TEXT" for name in wanted)
            await db.execute(f"CREATE TABLE {self._q} ({cols})")
            if self._layout.keys:
                index = quote(f"{self._table}_idsync_key")
                keys = ", ".join(map(quote, self._layout.keys))
                await db.execute(f"CREATE UNIQUE INDEX IF NOT EXISTS {index} ON {self._q} ({keys})")
        else:
            for name in (n for n in wanted if n not in self._columns):
                await db.execute(f"ALTER TABLE {self._q} ADD COLUMN {quote(name)} TEXT")
        if not self._columns or any(n not in self._columns for n in wanted):
            await self._load_schema()

    async def _apply_all(self, db: aiosqlite.Connection, changes: list[Change]) -> list[Outcome]:
        outcomes = [Outcome()] * len(changes)
        with _gc_paused():
            steps = self._steps(changes, outcomes)
        for step in steps:
            if isinstance(step, list):
                await self._bulk(db, step, outcomes)
            else:
                outcomes[step.index] = await self._one(db, step)
        return outcomes

    def _steps(self, changes: list[Change], outcomes: list[Outcome]) -> list[list[_Op] | _Op]:
        """Changes on distinct keys commute: runs of them go in bulk, cut where a key repeats;
        an update that changes a key runs alone, in order."""
        steps: list[list[_Op] | _Op] = []
        segment: list[_Op] = []
        seen: set[Key] = set()
        for i, change in enumerate(changes):
            op = self._prepare(i, change)
            if isinstance(op, str):
                outcomes[i] = Outcome(error=op)
                continue
            rekey = change.action == "update" and op.rekeys()
            if op.key in seen or rekey:
                steps.append(segment)
                segment, seen = [], set()
            if rekey:
                steps.append(op)
            else:
                segment.append(op)
                seen.add(op.key)
        steps.append(segment)
        return [step for step in steps if step]

    def _prepare(self, index: int, change: Change) -> _Op | str:
        """The change ready to bind, or why it cannot be applied."""
        if change.action not in ("create", "update", "delete"):
            return f"sqlite does not support {change.action}"
        # This runs for every change of every batch: comprehensions, no generators.
        where = self._layout.keys or tuple(change.match)
        match, param = change.match, self._param
        params = tuple([param(f, match[f]) if f in match else None for f in where])
        if None in params or not where:
            missing = [f for f, p in zip(where, params, strict=True) if p is None]
            return f"no value for key field {missing[0]!r}" if missing else "the change has no key"
        key = params
        if self._probe.slots and self._probe.numeric(where):  # compare keys as stored: 042 is 42
            stored = self._probe.store(dict(zip(where, params, strict=True)))
            key = tuple([_key_part(stored[f]) for f in where])
        names = tuple(change.set)
        values = tuple(
            [(v or None) if type(v) is str else param(n, v) for n, v in change.set.items()]
        )
        if change.clear:
            cleared = tuple([n for n in change.clear if n in self._columns])
            names, values = (*names, *cleared), (*values, *(None,) * len(cleared))
        return _Op(index, change, where, params, (where, key), names, values)

    def _sql(self, op: _Op, verb: str) -> tuple[str, tuple[Param, ...]]:
        """The statement (built once per shape) and its parameters."""
        keep = tuple(op.change.create_only) if verb == "upsert" else ()
        shape = (verb, op.where, op.names, keep)
        built = self._statements.get(shape)
        if built is None:
            built = self._statements[shape] = self._build(*shape)
        sql, key_first = built
        if verb in ("insert", "upsert"):
            if not key_first:  # a create's values hold its key fields, usually
                return sql, op.values
            return sql, (*[op.key_params[i] for i in key_first], *op.values)
        if verb == "update":  # the values twice: to set, and to skip rows that have them
            return sql, (*op.values, *op.key_params, *op.values)
        return sql, op.key_params

    def _build(
        self, verb: str, where: tuple[str, ...], names: tuple[str, ...], keep: tuple[str, ...] = ()
    ) -> tuple[str, tuple[int, ...]]:
        """SQL for one shape of change; for an insert, also the key fields it must add."""
        condition = " AND ".join(f"{quote(f)} = ?" for f in where)
        if verb in ("insert", "upsert"):
            key_first = tuple(i for i, f in enumerate(where) if f not in names)
            columns = [where[i] for i in key_first] + list(names)
            marks = ", ".join("?" * len(columns))
            sql = f"INSERT INTO {self._q} ({', '.join(map(quote, columns))}) VALUES ({marks})"
            if verb == "upsert":
                target = ", ".join(map(quote, where))
                others = [n for n in names if n not in where and n not in keep]
                if not others:
                    return f"{sql} ON CONFLICT ({target}) DO NOTHING", key_first
                sets = ", ".join(f"{quote(n)} = excluded.{quote(n)}" for n in others)
                differs = " OR ".join(f"{quote(n)} IS NOT excluded.{quote(n)}" for n in others)
                sql += f" ON CONFLICT ({target}) DO UPDATE SET {sets} WHERE {differs}"
            return sql, key_first
        if verb == "update":
            # Fenced: a row that already holds the values is not written again, so a batch
            # applied twice (a runner died before acknowledging it) writes nothing twice.
            sets = ", ".join(f"{quote(n)} = ?" for n in names)
            differs = " OR ".join(f"{quote(n)} IS NOT ?" for n in names)
            return f"UPDATE {self._q} SET {sets} WHERE {condition} AND ({differs})", ()
        return f"DELETE FROM {self._q} WHERE {condition}", ()

    async def _bulk(
        self, db: aiosqlite.Connection, ops: list[_Op], outcomes: list[Outcome]
    ) -> None:
        if not ops:
            return
        if self._upsertable(ops):  # the common first run: one statement, no lookups
            with _gc_paused():
                groups, pending = self._upserts(ops)
        else:
            existing = await self._existing(db, ops)
            with _gc_paused():
                groups, pending = self._groups(ops, existing, outcomes)
        await db.execute("SAVEPOINT idsync_bulk")
        try:
            for sql, rows in groups.items():
                await db.executemany(sql, rows)
            await db.execute("RELEASE idsync_bulk")
        except sqlite3.Error as e:
            if _busy(e):
                raise
            await db.execute("ROLLBACK TO idsync_bulk")
            await db.execute("RELEASE idsync_bulk")
            for op in pending:  # again in order, one savepoint each, to find the culprits
                outcomes[op.index] = await self._one(db, op)

    def _upsertable(self, ops: list[_Op]) -> bool:
        """Only creates, keyed by columns a unique index covers: INSERT … ON CONFLICT makes
        them create-if-absent (and fenced updates otherwise) without looking rows up."""
        if any(op.change.action != "create" for op in ops):
            return False
        wheres = {op.where for op in ops}
        return len(wheres) == 1 and frozenset(next(iter(wheres))) in self._unique

    def _upserts(self, ops: list[_Op]) -> tuple[dict[str, list[tuple[Param, ...]]], list[_Op]]:
        groups: dict[str, list[tuple[Param, ...]]] = {}
        for op in ops:
            sql, params = self._sql(op, "upsert")
            groups.setdefault(sql, []).append(params)
        return groups, ops

    def _groups(
        self, ops: list[_Op], existing: set[Key], outcomes: list[Outcome]
    ) -> tuple[dict[str, list[tuple[Param, ...]]], list[_Op]]:
        """The parameters of each statement, and the changes they write."""
        groups: dict[str, list[tuple[Param, ...]]] = {}
        pending: list[_Op] = []
        for op in ops:
            action, exists = op.change.action, op.key in existing
            if action == "delete":
                verb = "delete" if exists else ""  # delete-if-present
            elif exists:
                op = op.existing()
                verb = "update" if op.values else ""  # create-if-absent: set the values
            elif action == "update":
                outcomes[op.index] = Outcome(error=f"no row with {op.change.key!r} to update")
                continue
            else:
                verb = "insert"
            if verb:
                pending.append(op)
                sql, params = self._sql(op, verb)
                groups.setdefault(sql, []).append(params)
        return groups, pending

    async def _existing(self, db: aiosqlite.Connection, ops: list[_Op]) -> set[Key]:
        """The keys among `ops` that have a row, a few hundred per query."""
        async with db.execute(f"SELECT 1 FROM {self._q} LIMIT 1") as cur:
            if await cur.fetchone() is None:
                return set()
        by_where: dict[tuple[str, ...], list[_Op]] = {}
        for op in ops:
            by_where.setdefault(op.where, []).append(op)
        found: set[Key] = set()
        for where, group in by_where.items():
            cols = ", ".join(map(quote, where))
            size = max(1, _CHUNK // len(where))
            for start in range(0, len(group), size):
                chunk = group[start : start + size]
                marks = ", ".join([f"({', '.join('?' * len(where))})"] * len(chunk))
                sql = f"SELECT {cols} FROM {self._q} WHERE ({cols}) IN (VALUES {marks})"
                async with db.execute(sql, _flat(op.key_params for op in chunk)) as cur:
                    for row in await cur.fetchall():
                        found.add((where, tuple([_key_part(v) for v in row])))
        return found

    async def _one(self, db: aiosqlite.Connection, op: _Op) -> Outcome:
        """One change in its own savepoint: a rejected change is rolled back alone."""
        action = op.change.action
        await db.execute("SAVEPOINT idsync_one")
        try:
            if action == "delete":
                await db.execute(*self._sql(op, "delete"))
                hits = 1
            elif (update := op.existing() if action == "create" else op).values:
                async with db.execute(*self._sql(update, "update")) as cur:
                    hits = cur.rowcount
                if not hits:  # fenced: the row may be there, already holding the values
                    hits = len(await self._existing(db, [op]))
            else:
                hits = len(await self._existing(db, [op]))
            if not hits and action == "update":
                error: str | None = f"no row with {op.change.key!r} to update"
            elif not hits:
                await db.execute(*self._sql(op, "insert"))
                error = None
            else:
                error = None
            await db.execute("RELEASE idsync_one")
            return Outcome(error=error)
        except sqlite3.Error as e:
            if _busy(e):
                raise
            await db.execute("ROLLBACK TO idsync_one")
            await db.execute("RELEASE idsync_one")
            return Outcome(error=f"{action} {op.change.key!r} rejected by sqlite: {e}")

    async def close(self) -> None:
        db, self._db = self._db, None
        self._wal = False
        if db is not None:
            await db.close()


def _flat(rows: Iterable[Sequence[Param]]) -> list[Param]:
    return [p for row in rows for p in row]
