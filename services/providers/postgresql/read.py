"""Reading a PostgreSQL table or a job's SELECT: a server-side cursor in a read-only
transaction, fetched in batches, so a large table is never held whole; on a connection
of its own, so writing the same side while a read is under way does not wait for it."""

from __future__ import annotations

from collections.abc import AsyncIterator

import asyncpg

from schemas.values import Record, normalize

from ..changes import FieldChanges, filtered, needs_field
from .connection import PostgresqlTable, connect
from .values import canonical_value, value_of


class PostgresqlReading(PostgresqlTable):
    """The reading half of the provider."""

    async def read(self, batch_size: int) -> AsyncIterator[list[Record]]:
        if self._query is None and not self._columns:
            await self._refresh()
            if not self._columns:
                return  # a destination that does not exist yet
        # The job's own SELECT, or every column of a table the catalogue named.
        sql = self._query if self._query is not None else f"SELECT * FROM {self._q}"
        multi = self._layout.multi_valued
        conn = await connect(self._connection)
        try:
            async with conn.transaction(readonly=True, isolation="repeatable_read"):
                statement = await conn.prepare(sql)
                names = [attribute.name for attribute in statement.get_attributes()]
                delimiters = [multi.get(name) for name in names]
                cursor = await statement.cursor()
                while rows := await cursor.fetch(batch_size):
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
        """Compared as CSV and SQLite compare them (changes.py), on the canonical text:
        ISO 8601 in UTC for timestamptz, so text order is time order."""
        self._changes = FieldChanges(needs_field("postgresql", field), since)
        return filtered(self.read(batch_size), self._changes)

    def watermark(self) -> str | None:
        return self._changes.watermark() if self._changes else None

    def canonical(self, record: Record) -> Record:
        multi, columns = self._layout.multi_valued, self._columns
        return normalize(
            {
                name: canonical_value(columns.get(name), value, multi.get(name))
                for name, value in record.items()
            }
        )
