"""Reading a MySQL table or a job's SELECT: an unbuffered (server-side streamed) cursor in
a read-only transaction with a consistent snapshot, fetched in batches, so a large table
is never held whole; on a connection of its own — the pool's while it has one to spare
for batches (sql/pools.py), else one logged in for the read —, so writing the same side
while a read is under way does not wait for it."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Sequence
from functools import partial

from asyncmy.cursors import SSCursor
from asyncmy.errors import MySQLError

from schemas.connections import MysqlConnection
from schemas.values import Record, Value

from ..sql.reading import SqlReading
from .connection import MysqlTable, execute, fetch
from .values import (
    Column,
    Param,
    canonical_value,
    changed_since,
    field_kind,
    quote,
    text_of,
    value_of,
)

KEYS_PER_QUERY = 500
"""Values looked up per query."""


class MysqlReading(MysqlTable, SqlReading[MysqlConnection, Column]):
    """The reading half of the provider."""

    def reads_keys(self, field: str) -> bool:
        """A table's column (a job's SELECT is read whole)."""
        return self._query is None and field in self._columns

    async def read_keys(
        self, field: str, values: Sequence[str], batch_size: int
    ) -> AsyncIterator[list[Record]]:
        """The rows whose column holds one of `values` (compared as the column compares:
        its collation, a number as a number), a few hundred values per query."""
        for at in range(0, len(values), KEYS_PER_QUERY):
            some = tuple(values[at : at + KEYS_PER_QUERY])
            async for batch in self._rows(batch_size, lookup=(field, some)):
                yield batch

    async def _rows(
        self,
        batch_size: int,
        changed: tuple[str, str | None] | None = None,
        lookup: tuple[str, Sequence[str]] | None = None,
    ) -> AsyncIterator[list[Record]]:
        if self._query is None and not self._columns:
            await self._refresh()
            if not self._columns:
                return  # a destination that does not exist yet
        sql = self._query if self._query is not None else f"SELECT * FROM {self._q}"
        args: tuple[Param, ...] = ()
        if changed is not None:
            field, since = changed
            condition = changed_since(self._columns[field], since)
            if condition is not None:
                sql, args = f"{sql} WHERE {condition[0]}", (condition[1],)
        if lookup is not None:
            field, values = lookup
            marks = ", ".join(["%s"] * len(values))
            sql, args = f"{sql} WHERE {quote(field)} IN ({marks})", tuple(values)
        try:
            # Left unfinished (a reader that stopped early), the connection still holds
            # the streamed result: it is closed then, not given back (table.py).
            async with self.connection(read=True) as conn:
                await execute(conn, "START TRANSACTION WITH CONSISTENT SNAPSHOT, READ ONLY")
                cursor = conn.cursor(SSCursor)
                await cursor.execute(sql, args or None)
                names = [str(d[0]) for d in cursor.description]
                columns = [
                    self._columns.get(name) if self._query is None else None for name in names
                ]
                kinds = [
                    column.kind if column is not None else field_kind(int(d[1]), int(d[3] or 0))
                    for column, d in zip(columns, cursor.description, strict=True)
                ]
                as_text = all(column is not None and column.reads_str for column in columns)
                readers = None if as_text else [partial(_read, kind) for kind in kinds]
                mark = names.index(changed[0]) if changed is not None else None
                while rows := await cursor.fetchmany(batch_size):
                    yield self._records(names, rows, readers, mark)
                await cursor.close()
                await execute(conn, "COMMIT")
        except (MySQLError, OSError) as e:
            raise self.error(e, "read") from e

    async def size_hint(self) -> int:
        """About how many rows the table holds: the storage engine's own count as EXPLAIN
        gives it, live (information_schema's TABLE_ROWS, which MySQL 8 caches for a day,
        can still say 0 of a table a first run just filled); TABLE_ROWS where EXPLAIN is
        refused (a view, without SHOW VIEW). 0 when unknown."""
        if not self._opened or self._query is not None or not self._columns:
            return 0
        async with self.connection() as conn:
            try:
                async with conn.cursor() as cursor:
                    await cursor.execute(f"EXPLAIN SELECT * FROM {self._q}")
                    names = [str(d[0]).lower() for d in cursor.description]
                    plan = list(await cursor.fetchall())
                at = names.index("rows")
                return max((int(row[at] or 0) for row in plan), default=0)
            except (MySQLError, ValueError):
                pass  # the statistics, then
            rows = await fetch(
                conn,
                "SELECT TABLE_ROWS FROM information_schema.TABLES "
                "WHERE TABLE_SCHEMA = %s AND TABLE_NAME = %s",
                (self._database, self._table),
            )
        return int(rows[0][0] or 0) if rows else 0

    def canonical_value(self, column: Column | None, value: Value, delimiter: str | None) -> Value:
        return canonical_value(column, value, delimiter)

    def highest_text(self, column: Column) -> Callable[[object], str]:
        return partial(text_of, kind=column.kind)


def _read(kind: str, raw: object, delimiter: str | None) -> Value | None:
    return value_of(raw, kind, delimiter)
