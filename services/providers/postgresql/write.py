"""Writing a PostgreSQL table. A batch is one transaction: alike changes (same action, same
fields) are copied together into a staging table and applied by one set-based statement
each (statements.py) — creates as create-if-absent, updates as set-to-a-value, deletes as
delete-if-present — so a redelivered batch changes nothing twice. A group the server
rejects (a constraint, a value the column refuses) is rolled back to its savepoint and
replayed one change at a time, so the rejected change alone fails."""

from __future__ import annotations

import re
from contextlib import AbstractAsyncContextManager
from typing import cast

import asyncpg

from core.errors import IdsyncError
from schemas.connections import PostgresqlConnection
from schemas.plan import Change
from schemas.work import Changes, Creates

from ..base import Outcome
from ..sql.batches import Batcher, Op, Shape
from ..sql.writing import SqlWriting
from .connection import PostgresqlTable, transient
from .statements import STAGING, Statements
from .values import Column, canonical_value, param_of, quote

_BATCH_WIDE = ("08", "25", "28", "3F", "0A", "40", "53", "57", "58", "XX")
"""SQLSTATE classes that no other change of the batch would escape either."""


_QUOTED_VALUE = re.compile(r': "(.*)"$', re.M)
"""The value a type refused, quoted at the end of PostgreSQL's words."""


class PostgresqlWriting(PostgresqlTable, SqlWriting[PostgresqlConnection, Column, Statements]):
    """The writing half of the provider."""

    rejections = (asyncpg.PostgresError,)

    async def write_batch(self, changes: Changes) -> list[Outcome]:
        if not len(changes):
            return []
        self._write = True
        try:
            # A failed batch's connection is closed, not given back (table.py).
            async with self.connection() as conn, conn.transaction():
                # A deferred constraint checked as each statement runs, not at COMMIT: a
                # row it refuses fails its change alone (its group's savepoint), not the
                # whole batch.
                await conn.execute("SET CONSTRAINTS ALL IMMEDIATE")
                await self._table_ready(conn, changes)
                return await self._apply_all(conn, changes)
        except IdsyncError:
            self._known = False
            raise
        except (asyncpg.PostgresError, asyncpg.InterfaceError, OSError, TimeoutError) as e:
            self._known = False
            raise self.error(e, "write to") from e

    async def make_columns(
        self, conn: asyncpg.Connection, wanted: list[str], missing: list[str]
    ) -> None:
        """Create the table (text columns, a unique index over the keys) or add the columns
        of fields it lacks, in the batch's transaction. Batches applied at once that each
        find the table (or a column) missing take turns, by a lock held to the end of the
        transaction: the first makes it, the others find it made once it has committed
        (two `CREATE TABLE IF NOT EXISTS` at once: one is refused, pg_type's key taken)."""
        await conn.execute(
            "SELECT pg_advisory_xact_lock(hashtext('idsync tables'), hashtext($1))", self._q
        )
        await self.load_columns(conn)
        missing = [name for name in wanted if name not in self._columns]
        if not missing:
            return
        if not self._columns:
            columns = ", ".join(f"{quote(name)} text" for name in wanted)
            await conn.execute(f"CREATE TABLE IF NOT EXISTS {self._q} ({columns})")
            if self._layout.keys:
                index = quote(f"{self._table}_idsync_key"[:63])
                keys = ", ".join(map(quote, self._layout.keys))
                await conn.execute(
                    f"CREATE UNIQUE INDEX IF NOT EXISTS {index} ON {self._q} ({keys})"
                )
        else:
            for name in missing:
                await conn.execute(
                    f"ALTER TABLE {self._q} ADD COLUMN IF NOT EXISTS {quote(name)} text"
                )

    async def _apply_all(self, conn: asyncpg.Connection, changes: Changes) -> list[Outcome]:
        outcomes = [Outcome()] * len(changes)
        if isinstance(changes, Creates):
            if await self._columns_straight(conn, changes):
                return outcomes
            changes = changes.changes
        groups = [
            (self.statements(ops[0].shape), ops) for ops in self.batcher().groups(changes, outcomes)
        ]
        await self._apply_groups(conn, groups, outcomes)
        return outcomes

    def batcher(self) -> Batcher[Column]:
        return Batcher("postgresql", self._layout, self._columns, param_of, canonical_value)

    def statements(self, shape: Shape, number: int = 0) -> Statements:
        # A unique index of a key that compares without case would take a create of
        # "e2" for the row "E2" (ON CONFLICT): such a key is matched as the same text,
        # and a create the index refuses fails.
        exact = all(self._columns[name].exact for name in shape[1] if name in self._columns)
        unique = frozenset(shape[1]) in self._unique and exact
        return Statements.of(self._q, self._columns, shape, unique)

    def awaits_row(self, e: BaseException) -> bool:
        return getattr(e, "sqlstate", None) == "23503"  # foreign_key_violation

    def named(self, change: Change, told: str) -> str:
        """PostgreSQL names the value a type refuses, not its column ('invalid input
        syntax for type smallint: "true"'): the fields of the change that hold it."""
        quoted = _QUOTED_VALUE.search(told)  # the first line's end (a HINT may follow)
        if quoted is None:
            return told
        value = quoted[1]
        fields = [
            name
            for name, given in change.set.items()
            if (
                given == value
                if isinstance(given, str)
                else isinstance(given, list) and value in given
            )
        ]
        return f"{', '.join(fields)}: {told}" if fields else told

    def savepoint(self, conn: asyncpg.Connection) -> AbstractAsyncContextManager[None]:
        return cast("AbstractAsyncContextManager[None]", conn.transaction())

    def one_change_only(self, e: BaseException) -> bool:
        state = str(getattr(e, "sqlstate", "") or "")
        if state in ("42804", "42846"):  # the value cannot become the column's type
            return True
        return not (state[:2] in _BATCH_WIDE or state[:2] == "42")

    async def _run(self, conn: asyncpg.Connection, sql: Statements, ops: list[Op]) -> set[int]:
        """Apply one group; the indexes of updates that found no row."""
        action = sql.shape[0]
        if action == "create" and await self._straight(conn, sql, ops):
            return set()
        await conn.execute(sql.staging())
        await conn.copy_records_to_table(STAGING, records=[op.row for op in ops])
        drop = f"DROP TABLE {STAGING}"
        if action == "update":
            found = await conn.fetch(sql.update() or sql.existing())
            await conn.execute(drop)
            return {op.index for op in ops} - {int(row[0]) for row in found}
        if action == "delete":
            steps = [sql.delete()]
        elif sql.unique_key:
            steps = [sql.upsert()]
        else:
            set_there = sql.update(skip=sql.shape[4])
            steps = [*([set_there] if set_there else []), sql.insert()]
        # No parameters (the rows are staged): the steps go as one round trip.
        await conn.execute("; ".join([*steps, drop]))
        return set()

    async def straight(
        self, conn: asyncpg.Connection, sql: Statements, rows: list[tuple[object, ...]]
    ) -> bool:
        """Creates copied straight into the table, as a bulk load is (`SqlWriting.straight`):
        a key there already makes the unique index refuse the whole COPY."""
        try:
            async with conn.transaction():
                await conn.copy_records_to_table(
                    self._table,
                    schema_name=self._schema,
                    columns=list(sql.inserted()),
                    records=rows,
                )
        except asyncpg.PostgresError as e:
            if transient(e):
                raise
            return False
        return True
