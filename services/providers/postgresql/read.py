"""Reading a PostgreSQL table or a job's SELECT: a server-side cursor in a read-only
transaction, fetched in batches, so a large table is never held whole; on a connection
of its own, so writing the same side while a read is under way does not wait for it."""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence

import asyncpg

from core.errors import BadInput
from schemas.values import Record, normalize

from ..changes import FieldChanges, HighestRead, filtered, needs_field
from .connection import PostgresqlTable, connect
from .values import canonical_value, changed_since, quote, text_of, value_of


class PostgresqlReading(PostgresqlTable):
    """The reading half of the provider."""

    async def read(self, batch_size: int) -> AsyncIterator[list[Record]]:
        async for batch in self._rows(batch_size):
            yield batch

    def reads_keys(self, field: str) -> bool:
        """A table's column of single values (a job's SELECT is read whole)."""
        column = self._columns.get(field)
        return self._query is None and column is not None and not column.array

    async def read_keys(
        self, field: str, values: Sequence[str], batch_size: int
    ) -> AsyncIterator[list[Record]]:
        """The rows whose column, as text, is one of `values` (one query: an array)."""
        async for batch in self._rows(batch_size, lookup=(field, list(values))):
            yield batch

    async def _rows(
        self,
        batch_size: int,
        changed: tuple[str, str | None] | None = None,
        lookup: tuple[str, list[str]] | None = None,
    ) -> AsyncIterator[list[Record]]:
        """The rows, or with `changed` (column, since) those changed since the watermark,
        noting the highest value of the column in `self._highest`, or with `lookup`
        (column, values) those whose column holds one of the values."""
        if self._query is None and not self._columns:
            await self._refresh()
            if not self._columns:
                return  # a destination that does not exist yet
        # The job's own SELECT, or every column of a table the catalogue named.
        sql = self._query if self._query is not None else f"SELECT * FROM {self._q}"
        args: list[str | list[str]] = []
        if changed is not None:
            column, since = changed
            condition = changed_since(self._columns[column], since)
            if condition is not None:
                sql, args = f"{sql} WHERE {condition}", [str(since)]
        if lookup is not None:
            column, values = lookup
            sql, args = f"{sql} WHERE {quote(column)}::text = ANY($1::text[])", [values]
        multi = self._layout.multi_valued
        conn = await connect(self._connection)
        try:
            async with conn.transaction(readonly=True, isolation="repeatable_read"):
                statement = await conn.prepare(sql)
                names = [attribute.name for attribute in statement.get_attributes()]
                delimiters = [multi.get(name) for name in names]
                mark = names.index(changed[0]) if changed is not None else None
                cursor = await statement.cursor(*args)
                while rows := await cursor.fetch(batch_size):
                    if mark is not None and self._highest is not None:
                        for row in rows:
                            self._highest.see(row[mark])
                    yield [
                        normalize(
                            {
                                name: value_of(raw, delimiter)
                                for name, raw, delimiter in zip(
                                    names, row.values(), delimiters, strict=True
                                )
                            }
                        )
                        for row in rows
                    ]
        except (asyncpg.PostgresError, OSError, asyncpg.InterfaceError) as e:
            raise self.error(e, "read") from e
        finally:
            await conn.close()

    async def _refresh(self) -> None:
        """A destination created since `open` (by this provider's first write)."""
        if self._conn is not None:
            await self.load_columns(self._conn)

    async def size_hint(self) -> int:
        """About how many rows the table holds (the planner's statistics; 0 when unknown)."""
        if self._conn is None or self._query is not None or not self._columns:
            return 0
        sql = (
            "SELECT greatest(reltuples, 0)::bigint FROM pg_catalog.pg_class "
            "WHERE oid = $1::regclass"
        )
        return int(await self._conn.fetchval(sql, self._q) or 0)

    def read_changed(
        self, batch_size: int, since: str | None, field: str | None
    ) -> AsyncIterator[list[Record]]:
        """A table's changed rows are chosen by the server (WHERE the column >= the
        watermark, compared in the column's type), the watermark being the highest value
        read; a job's SELECT is filtered here as CSV and SQLite are (changes.py), on the
        canonical text."""
        field = needs_field("postgresql", field)
        self._changes = self._highest = None
        if self._query is not None:
            self._changes = FieldChanges(field, since)
            return filtered(self.read(batch_size), self._changes)
        if field not in self._columns:
            raise BadInput(
                f"{self._where}: the job's changes.field {field!r} is not a column of the "
                f"table{self.close_columns(field)}"
            )
        self._highest = HighestRead(since, text_of)
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
