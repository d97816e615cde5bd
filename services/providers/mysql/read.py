"""Reading a MySQL table or a job's SELECT: an unbuffered (server-side streamed) cursor in
a read-only transaction with a consistent snapshot, fetched in batches, so a large table
is never held whole; on a connection of its own, so writing the same side while a read
is under way does not wait for it."""

from __future__ import annotations

from collections.abc import AsyncIterator

from asyncmy.cursors import SSCursor
from asyncmy.errors import MySQLError

from schemas.values import Record, normalize

from ..changes import FieldChanges, filtered, needs_field
from .connection import MysqlTable, connect, execute, fetch
from .values import canonical_value, field_kind, value_of


class MysqlReading(MysqlTable):
    """The reading half of the provider."""

    async def read(self, batch_size: int) -> AsyncIterator[list[Record]]:
        if self._query is None and not self._columns:
            await self._refresh()
            if not self._columns:
                return  # a destination that does not exist yet
        sql = self._query if self._query is not None else f"SELECT * FROM {self._q}"
        multi = self._layout.multi_valued
        conn = await connect(self._connection)
        try:
            await execute(conn, "START TRANSACTION WITH CONSISTENT SNAPSHOT, READ ONLY")
            cursor = conn.cursor(SSCursor)
            await cursor.execute(sql)
            names = [str(d[0]) for d in cursor.description]
            kinds = [
                column.kind
                if self._query is None and (column := self._columns.get(name)) is not None
                else field_kind(int(d[1]), int(d[3] or 0))
                for name, d in zip(names, cursor.description, strict=True)
            ]
            shapes = list(zip(names, kinds, [multi.get(n) for n in names], strict=True))
            while rows := await cursor.fetchmany(batch_size):
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
        """Compared as CSV and SQLite compare them (changes.py), on the canonical text:
        ISO 8601 for datetimes and timestamps, so text order is time order."""
        self._changes = FieldChanges(needs_field("mysql", field), since)
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
