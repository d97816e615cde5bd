"""Writing a SQLite table. A batch is one transaction; changes on distinct keys go
through `executemany` in a savepoint, and only when that fails are they replayed one
savepoint each, so a rejected change becomes its own outcome while bulk loads stay as
fast as plain inserts."""

from __future__ import annotations

import re
import sqlite3
from collections.abc import Callable, Iterable, Sequence
from functools import partial

import aiosqlite

from schemas.plan import Change
from schemas.work import Changes, Creates, listed
from services.common.collector import collector_paused

from ..base import Outcome
from .connection import SqliteTable, busy, in_thread, writer
from .rows import Rows, columns_as_rows, creates_as_rows
from .statements import Op
from .values import Key, Param, key_part, param_of, quote

_CHUNK = 500  # bound parameters per existence query, far below SQLite's limit
_BOUND = 32_766
"""Parameters a statement of rows binds at most (SQLite's default limit since 3.32)."""
_ROWS = 512
"""Rows a statement of rows holds at most (a power of two)."""
_WRITABLE = frozenset({"create", "update", "delete"})
_MISMATCH = re.compile(r"^datatype mismatch|^cannot store \w+ value in \w+ column")
"""SQLite refusing a value for its type: a rowid's, or a STRICT table's column's."""
_NUMBERS: dict[str, tuple[type | tuple[type, ...], str]] = {
    "INTEGER": (int, "an integer"),
    "REAL": ((int, float), "a number"),
}
"""What a numeric column of these affinities stores a value it accepts as."""


class SqliteWriting(SqliteTable):
    """The writing half of the provider."""

    async def apply(self, changes: list[Change]) -> list[Outcome]:
        if not changes:
            return []
        # A batch of plain creates is bound as rows before it waits for the writer: its
        # Python work overlaps another batch's write, which SQLite does without the GIL.
        with collector_paused():
            rows = creates_as_rows(changes, self._layout.keys, self._layout.multi_valued)
        # One writer at a time per database in this process: batches applied side by side
        # queue here, instead of in SQLite's busy handler, which sleeps in growing steps.
        async with writer(self._path):
            return await self._apply_locked(changes, rows)

    async def apply_columns(self, creates: Creates) -> list[Outcome]:
        """`apply` of plain creates sent as columns: bound as rows straight from them, no
        change made (but where they are not such rows, or SQLite refused one: then the
        general path applies their changes, each its own outcome)."""
        if not len(creates):
            return []
        with collector_paused():
            rows = columns_as_rows(creates, self._layout.keys, self._layout.multi_valued)
        if rows is None:
            return await self.apply(creates.changes)
        async with writer(self._path):
            return await self._apply_locked(creates, rows)

    async def _apply_locked(self, changes: Changes, rows: Rows | None) -> list[Outcome]:
        self._write = True
        self._keep = False
        try:
            db = self._db or await self._connect(create=True)
            # Begun, the table made or widened and a batch of rows written and committed,
            # all in one round trip to SQLite's thread: the writer is held that long only.
            if await in_thread(db, partial(self._begin, changes, rows)):
                self._keep = True
                return [Outcome()] * len(changes)
            outcomes = await self._apply_all(db, listed(changes))
            await db.execute("COMMIT")
            self._keep = True
            return outcomes
        except BaseException as e:
            await self._rollback()
            if isinstance(e, sqlite3.Error):
                raise self._error(e, "write to") from e
            raise

    def _begin(self, changes: Changes, rows: Rows | None, conn: sqlite3.Connection) -> bool:
        """In SQLite's thread: the batch's transaction begun and its table ready; a batch
        of `rows` written and committed too (True). False: the transaction is open for the
        general path."""
        if not self._wal:
            conn.execute("PRAGMA journal_mode=WAL")
            self._wal = True
        conn.execute("BEGIN IMMEDIATE")
        self._schema_in(conn)
        self._table_in(conn, changes, rows)
        if rows is not None and self._rows(conn, rows):
            conn.execute("COMMIT")
            return True
        return False

    async def _rollback(self) -> None:
        if self._db is None:
            return
        try:
            if self._db.in_transaction:
                await self._db.execute("ROLLBACK")
            await self._load_schema()
        except (sqlite3.Error, ValueError):
            pass  # the connection is gone; the next apply reconnects

    def _table_in(self, conn: sqlite3.Connection, changes: Changes, rows: Rows | None) -> None:
        """Create the table (TEXT columns, UNIQUE index over the keys) or add missing columns
        (in SQLite's thread)."""
        wanted = dict.fromkeys([*self._layout.fields, *self._layout.keys])
        known = wanted.keys()
        if rows is not None:  # one shape: its fields are every change's
            for name in (*rows.where, *rows.names):
                wanted.setdefault(name)
        for change in listed(changes) if rows is None else ():
            if change.set.keys() <= known and change.match.keys() <= known:
                continue  # the common case, checked in C
            for name in (*change.match, *change.set):
                wanted.setdefault(name)
        if not self._columns:
            cols = ", ".join(f"{quote(name)} TEXT" for name in wanted)
            conn.execute(f"CREATE TABLE {self._q} ({cols})")
            if self._layout.keys:
                index = quote(f"{self._table}_idsync_key")
                keys = ", ".join(map(quote, self._layout.keys))
                conn.execute(f"CREATE UNIQUE INDEX IF NOT EXISTS {index} ON {self._q} ({keys})")
        else:
            for name in (n for n in wanted if n not in self._columns):
                conn.execute(f"ALTER TABLE {self._q} ADD COLUMN {quote(name)} TEXT")
        if not self._columns or any(n not in self._columns for n in wanted):
            self._schema_in(conn)

    def _rows(self, conn: sqlite3.Connection, rows: Rows) -> bool:
        """Plain creates of one shape in one `executemany`, where a unique index over the
        key makes them create-if-absent (a batch applied again writes nothing twice) and
        the key compares as written (no numeric column converts it). False when that does
        not hold, or SQLite refused a row: then the transaction has begun again, as it
        was, and the general path applies the batch and finds which change was refused.
        (No savepoint around the rows: a transaction begun twice for a batch with a
        refused row, none for the others.) In SQLite's thread."""
        if frozenset(rows.where) not in self._unique or self._probe.numeric(rows.where):
            return False
        if self._query:  # a row of the key outside the query is no row to set: looked up
            return False
        shape = ("upsert", rows.where, rows.names, rows.create_only)
        _, key_first = self._statements.shaped(shape)
        columns = [*[rows.keys[i] for i in key_first], *rows.values]
        # Many rows a statement (`rows`): one step each, where `executemany` steps once a
        # row. Runs of _ROWS, the rest in runs of halving powers of two: a few statements
        # of each shape, prepared once and kept in the connection's cache.
        width = len(columns)
        bound = min(conn.getlimit(sqlite3.SQLITE_LIMIT_VARIABLE_NUMBER), _BOUND) // width
        size = 1 << (max(1, min(bound, _ROWS)).bit_length() - 1)
        try:
            at = 0
            while at < rows.count:
                while size > rows.count - at:
                    size //= 2
                params = rows.params(columns, at, size)
                conn.execute(self._statements.rows(shape, size), params)
                at += size
            return True
        except sqlite3.Error as e:
            if busy(e):
                raise
        conn.execute("ROLLBACK")
        conn.execute("BEGIN IMMEDIATE")
        self._schema_in(conn)
        self._table_in(conn, [], rows)  # undone with the rest, if it made the table
        return False

    async def _apply_all(self, db: aiosqlite.Connection, changes: list[Change]) -> list[Outcome]:
        outcomes = [Outcome()] * len(changes)
        with collector_paused():
            steps = self._steps(changes, outcomes)
        for step in steps:
            if isinstance(step, list):
                await self._bulk(db, step, outcomes)
            else:
                outcomes[step.index] = await self._one(db, step)
        return outcomes

    def _steps(self, changes: list[Change], outcomes: list[Outcome]) -> list[list[Op] | Op]:
        """Changes on distinct keys commute: runs of them go in bulk, cut where a key repeats;
        an update that changes a key runs alone, in order."""
        steps: list[list[Op] | Op] = []
        segment: list[Op] = []
        seen: set[Key] = set()
        prepare = self._preparer()
        for i, change in enumerate(changes):
            op = prepare(i, change)
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

    def _preparer(self) -> Callable[[int, Change], Op | str]:
        """`prepare(index, change)`: the change ready to bind, or why it cannot be applied.
        What every change of a batch shares (the layout, the columns, whether keys compare
        as numbers) is looked up once here: this runs for every change of every batch."""
        multi = self._layout.multi_valued
        layout_keys = self._layout.keys
        columns = self._columns
        probe = self._probe
        numeric_keys = bool(probe.slots) and probe.numeric(layout_keys)

        def prepare(index: int, change: Change) -> Op | str:
            if change.action not in _WRITABLE:
                return f"sqlite does not support {change.action}"
            where = layout_keys or tuple(change.match)
            match = change.match
            params = tuple(
                [
                    ((v or None) if (v := match[f]).__class__ is str else param_of(multi, f, v))
                    if f in match
                    else None
                    for f in where
                ]
            )
            if None in params or not where:
                missing = [f for f, p in zip(where, params, strict=True) if p is None]
                return (
                    f"no value for key field {missing[0]!r}" if missing else "the change has no key"
                )
            key = params
            numeric = numeric_keys if layout_keys else bool(probe.slots) and probe.numeric(where)
            if numeric:  # compare keys as stored: 042 is 42
                stored = probe.store(dict(zip(where, params, strict=True)))
                key = tuple([key_part(stored[f]) for f in where])
            values_set = change.set
            names = tuple(values_set)
            values = tuple(
                [
                    (v or None) if v.__class__ is str else param_of(multi, n, v)
                    for n, v in values_set.items()
                ]
            )
            if change.clear:
                cleared = tuple([n for n in change.clear if n in columns])
                names, values = (*names, *cleared), (*values, *(None,) * len(cleared))
            return Op(index, change, where, params, (where, key), names, values)

        return prepare

    async def _bulk(self, db: aiosqlite.Connection, ops: list[Op], outcomes: list[Outcome]) -> None:
        if not ops:
            return
        if self._upsertable(ops):  # the common first run: one statement, no lookups
            with collector_paused():
                groups, pending = self._upserts(ops)
        else:
            existing = await self._existing(db, ops)
            with collector_paused():
                groups, pending = self._groups(ops, existing, outcomes)
        await db.execute("SAVEPOINT idsync_bulk")
        try:
            for sql, rows in groups.items():
                await db.executemany(sql, rows)
            await db.execute("RELEASE idsync_bulk")
        except sqlite3.Error as e:
            if busy(e):
                raise
            await db.execute("ROLLBACK TO idsync_bulk")
            await db.execute("RELEASE idsync_bulk")
            for op in pending:  # again in order, one savepoint each, to find the culprits
                outcomes[op.index] = await self._one(db, op)

    def _upsertable(self, ops: list[Op]) -> bool:
        """Only creates, keyed by columns a unique index covers: INSERT … ON CONFLICT makes
        them create-if-absent (and fenced updates otherwise) without looking rows up."""
        if any(op.change.action != "create" for op in ops) or self._query:
            return False  # with a query: a row of the key outside it is looked up first
        wheres = {op.where for op in ops}
        return len(wheres) == 1 and frozenset(next(iter(wheres))) in self._unique

    def _upserts(self, ops: list[Op]) -> tuple[dict[str, list[tuple[Param, ...]]], list[Op]]:
        groups: dict[str, list[tuple[Param, ...]]] = {}
        for op in ops:
            sql, params = self._statements.sql(op, "upsert")
            groups.setdefault(sql, []).append(params)
        return groups, ops

    def _groups(
        self, ops: list[Op], existing: set[Key], outcomes: list[Outcome]
    ) -> tuple[dict[str, list[tuple[Param, ...]]], list[Op]]:
        """The parameters of each statement, and the changes they write."""
        groups: dict[str, list[tuple[Param, ...]]] = {}
        pending: list[Op] = []
        for op in ops:
            action, exists = op.change.action, op.key in existing
            if action == "delete":
                verb = "delete" if exists else ""  # delete-if-present
            elif exists:
                op = op.existing()
                verb = "update" if op.values else ""  # create-if-absent: set the values
            elif action == "update":
                outcomes[op.index] = Outcome(
                    error=f"no row with {op.change.key!r} to update", missing=True
                )
                continue
            else:
                verb = "insert"
            if verb:
                pending.append(op)
                sql, params = self._statements.sql(op, verb)
                groups.setdefault(sql, []).append(params)
        return groups, pending

    async def _existing(self, db: aiosqlite.Connection, ops: list[Op]) -> set[Key]:
        """The keys among `ops` that have a row, a few hundred per query."""
        async with db.execute(f"SELECT 1 FROM {self._q} LIMIT 1") as cur:
            if await cur.fetchone() is None:
                return set()
        by_where: dict[tuple[str, ...], list[Op]] = {}
        for op in ops:
            by_where.setdefault(op.where, []).append(op)
        found: set[Key] = set()
        for where, group in by_where.items():
            cols = ", ".join(map(quote, where))
            exact = ", ".join(f"{quote(f)} COLLATE BINARY" for f in where)  # "E2" is not "e2"
            size = max(1, _CHUNK // len(where))
            for start in range(0, len(group), size):
                chunk = group[start : start + size]
                marks = ", ".join([f"({', '.join('?' * len(where))})"] * len(chunk))
                sql = f"SELECT {cols} FROM {self._q} WHERE ({exact}) IN (VALUES {marks})"
                if self._query:  # rows of the job's scope alone: the others are not its
                    sql += f" AND ({self._query})"
                async with db.execute(sql, _flat(op.key_params for op in chunk)) as cur:
                    for row in await cur.fetchall():
                        found.add((where, tuple([key_part(v) for v in row])))
        return found

    async def _one(self, db: aiosqlite.Connection, op: Op) -> Outcome:
        """One change in its own savepoint: a rejected change is rolled back alone."""
        action = op.change.action
        await db.execute("SAVEPOINT idsync_one")
        try:
            if action == "delete":
                await db.execute(*self._statements.sql(op, "delete"))
                hits = 1
            elif (update := op.existing() if action == "create" else op).values:
                async with db.execute(*self._statements.sql(update, "update")) as cur:
                    hits = cur.rowcount
                if not hits:  # fenced: the row may be there, already holding the values
                    hits = len(await self._existing(db, [op]))
            else:
                hits = len(await self._existing(db, [op]))
            if not hits and action == "update":
                error: str | None = f"no row with {op.change.key!r} to update"
            elif not hits:
                await db.execute(*self._statements.sql(op, "insert"))
                error = None
            else:
                error = None
            await db.execute("RELEASE idsync_one")
            return Outcome(error=error, missing=not hits and action == "update")
        except sqlite3.Error as e:
            if busy(e):
                raise
            await db.execute("ROLLBACK TO idsync_one")
            await db.execute("RELEASE idsync_one")
            why = self._mismatched(op) if _MISMATCH.search(str(e)) else ""
            return Outcome(error=f"{action} {op.change.key!r} rejected by sqlite: {e}{why}")

    def _mismatched(self, op: Op) -> str:
        """Which of the change's values SQLite refused for their type, and why: ": id 'abc'
        is not an integer". Only a column of the table's INTEGER PRIMARY KEY or of a STRICT
        table refuses a value, and only one its type affinity cannot convert — as the
        probe (the table's affinities, in memory) converts it; "" when none is found."""
        params = dict(zip((*op.where, *op.names), (*op.key_params, *op.values), strict=True))
        stored = self._probe.store(params)
        wrong = []
        for name, value in params.items():
            wanted = _NUMBERS.get(self._columns.get(name, ""))
            if value is None or wanted is None or isinstance(stored[name], wanted[0]):
                continue
            shown = "a binary value" if isinstance(value, bytes) else repr(value)
            wrong.append(f"{name} {shown} is not {wanted[1]}")
        return f": {', '.join(wrong)}" if wrong else ""


def _flat(rows: Iterable[Sequence[Param]]) -> list[Param]:
    return [p for row in rows for p in row]
