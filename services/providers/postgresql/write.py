"""Writing a PostgreSQL table. A batch is one transaction: alike changes (same action, same
fields) are copied together into a staging table and applied by one set-based statement
each (statements.py) — creates as create-if-absent, updates as set-to-a-value, deletes as
delete-if-present — so a redelivered batch changes nothing twice. A group the server
rejects (a constraint, a value the column refuses) is rolled back to its savepoint and
replayed one change at a time, so the rejected change alone fails."""

from __future__ import annotations

import asyncpg

from core.errors import IdsyncError
from schemas.plan import Change

from ..base import Outcome
from .connection import PostgresqlTable, connect, transient
from .statements import STAGING, Op, Shape, Statements
from .values import canonical_value, param_of, quote

_BATCH_WIDE = ("08", "25", "28", "3F", "0A", "40", "53", "57", "58", "XX")
"""SQLSTATE classes that no other change of the batch would escape either."""


def _one_change_only(e: asyncpg.PostgresError) -> bool:
    """Whether the error belongs to the rows of one change (a constraint, a bad value)."""
    state = str(getattr(e, "sqlstate", "") or "")
    if state in ("42804", "42846"):  # the value cannot become the column's type
        return True
    return not (state[:2] in _BATCH_WIDE or state[:2] == "42")


class PostgresqlWriting(PostgresqlTable):
    """The writing half of the provider."""

    async def apply(self, changes: list[Change]) -> list[Outcome]:
        if not changes:
            return []
        self._write = True
        try:
            conn = self._conn or await self._reconnect()
            async with conn.transaction():
                await self.load_columns(conn)  # another runner may have made it meanwhile
                await self._ensure_table(conn, changes)
                return await self._apply_all(conn, changes)
        except IdsyncError:
            raise
        except (asyncpg.PostgresError, asyncpg.InterfaceError, OSError, TimeoutError) as e:
            if transient(e):
                await self.close()  # the next batch connects anew
            raise self.error(e, "write to") from e

    async def _reconnect(self) -> asyncpg.Connection:
        self._conn = await connect(self._connection)
        return self._conn

    async def _ensure_table(self, conn: asyncpg.Connection, changes: list[Change]) -> None:
        """Create the table (text columns, a unique index over the keys) or add the columns
        of fields it lacks, in the batch's transaction."""
        wanted = dict.fromkeys([*self._layout.keys, *self._layout.fields])
        for change in changes:
            wanted.update(dict.fromkeys([*change.match, *change.set]))
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
        await self.load_columns(conn)

    def _prepare(self, index: int, change: Change) -> Op | str:
        """The change ready to copy, or why it cannot be applied."""
        if change.action not in ("create", "update", "delete"):
            return f"postgresql does not support {change.action}"
        where = self._layout.keys or tuple(change.match)
        if not where:
            return "the change has no key"
        columns, multi = self._columns, self._layout.multi_valued
        key_params = tuple(
            param_of(columns[f], change.match[f], multi.get(f)) if f in change.match else None
            for f in where
        )
        if None in key_params:
            missing = [f for f, p in zip(where, key_params, strict=True) if p is None]
            return f"no value for key field {missing[0]!r}"
        key = tuple(str(canonical_value(columns[f], change.match[f], None)) for f in where)
        names = tuple(change.set)
        values = tuple(param_of(columns[n], v, multi.get(n)) for n, v in change.set.items())
        cleared = tuple(n for n in change.clear if n in columns and n not in change.set)
        return Op(index, change, where, key, key_params, names, values, cleared)

    def _rekeys(self, op: Op) -> bool:
        """An update that gives the object another key: it goes alone, in order."""
        if op.change.action != "update":
            return False
        columns, changed = self._columns, op.change.set
        return any(
            f in changed and str(canonical_value(columns[f], changed[f], None)) != k
            for f, k in zip(op.where, op.key, strict=True)
        )

    async def _apply_all(self, conn: asyncpg.Connection, changes: list[Change]) -> list[Outcome]:
        outcomes = [Outcome()] * len(changes)
        for segment in self._segments(changes, outcomes):
            groups: dict[Shape, list[Op]] = {}
            for op in segment:
                groups.setdefault(op.shape, []).append(op)
            for shape, ops in groups.items():
                unique = frozenset(shape[1]) in self._unique
                sql = Statements(self._q, self._columns, shape, unique)
                await self._group(conn, sql, ops, outcomes)
        return outcomes

    def _segments(self, changes: list[Change], outcomes: list[Outcome]) -> list[list[Op]]:
        """Changes on distinct keys commute: runs of them go together, cut where a key
        repeats; an update that changes a key runs alone."""
        segments: list[list[Op]] = [[]]
        seen: set[tuple[str, ...]] = set()
        for i, change in enumerate(changes):
            op = self._prepare(i, change)
            if isinstance(op, str):
                outcomes[i] = Outcome(error=op)
                continue
            rekey = self._rekeys(op)
            if op.key in seen or rekey:
                segments.append([])
                seen = set()
            segments[-1].append(op)
            seen.add(op.key)
            if rekey:
                segments.append([])
                seen = set()
        return [segment for segment in segments if segment]

    async def _group(
        self, conn: asyncpg.Connection, sql: Statements, ops: list[Op], outcomes: list[Outcome]
    ) -> None:
        try:
            async with conn.transaction():  # a savepoint: a rejected group is undone alone
                missing = await self._run(conn, sql, ops)
        except asyncpg.PostgresError as e:
            if transient(e) or not _one_change_only(e):
                raise
            if len(ops) > 1:
                for op in ops:  # again one by one, in order, to find the culprits
                    await self._group(conn, sql, [op], outcomes)
                return
            change = ops[0].change
            outcomes[ops[0].index] = Outcome(
                error=f"{change.action} {change.key!r} rejected by postgresql: {e}"
            )
            return
        for op in ops:
            if op.index in missing:
                outcomes[op.index] = Outcome(error=f"no row with {op.change.key!r} to update")

    async def _run(self, conn: asyncpg.Connection, sql: Statements, ops: list[Op]) -> set[int]:
        """Apply one group; the indexes of updates that found no row."""
        await conn.execute(sql.staging())
        await conn.copy_records_to_table(STAGING, records=[op.row for op in ops])
        action = sql.shape[0]
        missing: set[int] = set()
        if action == "delete":
            await conn.execute(sql.delete())
        elif action == "update":
            statement = sql.update()
            found = await conn.fetch(statement or sql.existing())
            missing = {op.index for op in ops} - {int(row[0]) for row in found}
        else:
            if (statement := sql.update(skip=sql.shape[4])) is not None:
                await conn.execute(statement)
            await conn.execute(sql.insert())
        await conn.execute(f"DROP TABLE {STAGING}")
        return missing
