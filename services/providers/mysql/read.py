"""Reading a MySQL table or a job's SELECT: an unbuffered (server-side streamed) cursor in
a read-only transaction with a consistent snapshot, fetched in batches, so a large table
is never held whole; on a connection of its own, so writing the same side while a read
is under way does not wait for it."""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence

from asyncmy.cursors import SSCursor
from asyncmy.errors import MySQLError

from core.errors import BadInput
from schemas.values import Record, normalize

from ..changes import FieldChanges, HighestRead, filtered, needs_field
from .connection import MysqlTable, connect, execute, fetch
from .values import (
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


class MysqlReading(MysqlTable):
    """The reading half of the provider."""

    async def read(self, batch_size: int) -> AsyncIterator[list[Record]]:
        async for batch in self._rows(batch_size):
            yield batch

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
        lookup: tuple[str, tuple[str, ...]] | None = None,
    ) -> AsyncIterator[list[Record]]:
        """The rows, or with `changed` (column, since) those changed since the watermark,
        noting the highest value of the column in `self._highest`, or with `lookup`
        (column, values) those whose column holds one of the values."""
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
            sql, args = f"{sql} WHERE {quote(field)} IN ({marks})", values
        multi = self._layout.multi_valued
        conn = await connect(self._connection)
        try:
            await execute(conn, "START TRANSACTION WITH CONSISTENT SNAPSHOT, READ ONLY")
            cursor = conn.cursor(SSCursor)
            await cursor.execute(sql, args or None)
            names = [str(d[0]) for d in cursor.description]
            kinds = [
                column.kind
                if self._query is None and (column := self._columns.get(name)) is not None
                else field_kind(int(d[1]), int(d[3] or 0))
                for name, d in zip(names, cursor.description, strict=True)
            ]
            shapes = list(zip(names, kinds, [multi.get(n) for n in names], strict=True))
            mark = names.index(changed[0]) if changed is not None else None
            while rows := await cursor.fetchmany(batch_size):
                if mark is not None and self._highest is not None:
                    for row in rows:
                        self._highest.see(row[mark])
                yield [
                    normalize(
                        {
                            name: value_of(raw, kind, delimiter)
                            for (name, kind, delimiter), raw in zip(shapes, row, strict=True)
                        }
                    )
                    for row in rows
                ]
            await cursor.close()
            await execute(conn, "COMMIT")
        except (MySQLError, OSError) as e:
            raise self.error(e, "read") from e
        finally:
            conn.close()

    async def _refresh(self) -> None:
        """A destination created since `open` (by this provider's first write)."""
        if self._conn is not None:
            await self.load_columns(self._conn)

    async def size_hint(self) -> int:
        """About how many rows the table holds (the planner's statistics; 0 when unknown)."""
        if self._conn is None or self._query is not None or not self._columns:
            return 0
        rows = await fetch(
            self._conn,
            "SELECT TABLE_ROWS FROM information_schema.TABLES "
            "WHERE TABLE_SCHEMA = %s AND TABLE_NAME = %s",
            (self._schema, self._table),
        )
        return int(rows[0][0] or 0) if rows else 0

    def read_changed(
        self, batch_size: int, since: str | None, field: str | None
    ) -> AsyncIterator[list[Record]]:
        """A table's changed rows are chosen by the server (WHERE the column >= the
        watermark, compared in the column's type), the watermark being the highest value
        read; a job's SELECT is filtered here as CSV and SQLite are (changes.py), on the
        canonical text."""
        field = needs_field("mysql", field)
        self._changes = self._highest = None
        if self._query is not None:
            self._changes = FieldChanges(field, since)
            return filtered(self.read(batch_size), self._changes)
        column = self._columns.get(field)
        if column is None:
            raise BadInput(
                f"{self._where}: the job's changes.field {field!r} is not a column of the "
                f"table{self.close_columns(field)}"
            )
        kind = column.kind
        self._highest = HighestRead(since, lambda raw: text_of(raw, kind))
        return self._rows(batch_size, (field, since))

    def watermark(self) -> str | None:
        if self._highest is not None:
            return self._highest.watermark()
        return self._changes.watermark() if self._changes else None

    def canonical(self, record: Record) -> Record:
        multi, columns = self._layout.multi_valued, self._columns
        return normalize(
            {
                name: canonical_value(columns.get(name), value, multi.get(name))
                for name, value in record.items()
            }
        )
