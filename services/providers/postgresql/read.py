"""Reading a PostgreSQL table or a job's SELECT: a server-side cursor in a read-only
transaction, fetched in batches, so a large table is never held whole; on a connection
of its own — the pool's while it has one to spare for batches (sql/pools.py), else one
logged in for the read —, so writing the same side while a read is under way does not
wait for it."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from operator import itemgetter
from typing import Any, cast

import asyncpg

from core.errors import BadInput
from schemas.connections import PostgresqlConnection
from schemas.values import Record, Value

from ..keyforms import ascii_spaces, asked_only, compared, made_once, unsettled
from ..sql.reading import SqlReading
from ..sql.values import reads_as_given
from .connection import PostgresqlTable
from .values import (
    Column,
    canonical_value,
    changed_since,
    orders_changes,
    quote,
    reader_of,
    reads_str,
    server_texts,
    text_of,
)

COUNTED_UP_TO = 1_000_000
"""Rows a size hint counts at most when the statistics do not know (beyond every size
the planning chooses by)."""
_SPELLED = ("int", "decimal", "float", "bool", "date", "timestamp", "timestamptz", "time", "uuid")
"""Kinds of columns whose text a lookup compares as it is: the server writes it, in ASCII
and without spaces around it."""
_STATISTICS = """
SELECT c.reltuples, c.relpages, c.relkind::text,
       CASE WHEN c.relkind IN ('r', 'm')
            THEN pg_relation_size(c.oid) / current_setting('block_size')::int END
FROM pg_catalog.pg_class c WHERE c.oid = $1::regclass
"""


async def prepared(conn: asyncpg.Connection, sql: str) -> asyncpg.prepared_stmt.PreparedStatement:
    """The statement prepared, its columns of types the driver would make Python objects of
    read as the server's text instead (`server_texts`); as it is where a name stands twice
    (the caller refuses it)."""
    statement = await conn.prepare(sql)
    attributes = statement.get_attributes()
    names = [attribute.name for attribute in attributes]
    kinds = [(a.type.name, a.type.kind) for a in attributes]
    if len(set(names)) == len(names) and (texts := server_texts(sql, names, kinds)):
        return await conn.prepare(texts)
    return statement


class PostgresqlReading(PostgresqlTable, SqlReading[PostgresqlConnection, Column]):
    """The reading half of the provider."""

    def reads_keys(self, field: str) -> bool:
        """A table's column of single values (a job's SELECT is read whole), in a
        database whose text is UTF8 (`read_keys`)."""
        column = self._columns.get(field)
        return self._query is None and column is not None and not column.array and self._utf8

    def finds_every_key(self, field: str) -> bool:
        """In a column of plain text (text, varchar), where the lookup asks for every
        key in another spelling too; a typed column's text (`::text`) may be spelled
        otherwise than a whole read gives it, so a key it misses is not taken as absent."""
        column = self._columns.get(field)
        return self.reads_keys(field) and column is not None and column.plain_text

    async def read_keys(
        self, field: str, values: Sequence[str], batch_size: int
    ) -> AsyncIterator[list[Record]]:
        """The rows whose column, as text, is one of `values` as a run compares keys
        (keyforms.py), in one statement: those spelled so (by the column's index, in a
        column of numbers, dates, …) and, in a column of text, any whose text may be
        spelled otherwise, in the same scan (with a cheap test first)."""
        # No text of PostgreSQL's holds a NUL (nor may a statement's argument): such a
        # key is held by no row.
        wanted = frozenset(key for key in compared(values) if "\x00" not in key)
        await made_once()
        async for batch in self._rows(batch_size, lookup=(field, sorted(wanted))):
            if found := asked_only(batch, field, wanted):
                yield found

    def row_columns(self, key: str) -> list[str] | None:
        """Every column of a table (not a job's SELECT) in a UTF8 database, when each is
        text that gives back what it was given (`reads_as_given`), `key` one of them."""
        columns = self._columns
        if self._query is not None or not self._utf8 or key not in columns:
            return None
        if not all(map(reads_as_given, columns.values())):
            return None
        return list(columns)

    async def read_unless_same(
        self,
        key: str,
        choose: Callable[[list[str | None], list[str | None]], Awaitable[list[str] | None]],
        batch_size: int,
    ) -> list[Record]:
        """Every row's key and text by a server-side cursor (as a whole read, so in the
        same order), then the rows `choose` asks for whole, in the same read-only
        snapshot; `row_columns(key)` must have given the columns."""
        names = self.row_columns(key)
        assert names is not None
        text = " || chr(31) || ".join(map(quote, names))
        sql = f"SELECT {quote(key)}, {text} FROM {self._q}"
        records: list[Record] = []
        try:
            async with (
                self.connection(read=True) as conn,
                conn.transaction(readonly=True, isolation="repeatable_read"),
            ):
                keys: list[str | None] = []
                texts: list[str | None] = []
                cursor = await (await conn.prepare(sql)).cursor()
                while rows := await cursor.fetch(batch_size):
                    keys += map(itemgetter(0), rows)
                    texts += map(itemgetter(1), rows)
                wanted = await choose(keys, texts)
                if wanted is None:
                    statement = await prepared(conn, f"SELECT * FROM {self._q}")
                    args: list[Any] = []
                elif not wanted:
                    return []
                else:
                    exact = f'{quote(key)} COLLATE "C" = ANY($1::text[])'  # no other spelling
                    lookup = f"SELECT * FROM {self._q} WHERE {exact}"
                    statement, args = await prepared(conn, lookup), [wanted]
                attributes = statement.get_attributes()
                found = [attribute.name for attribute in attributes]
                as_text = all(reads_str(a.type.name, a.type.kind == "array") for a in attributes)
                readers = None if as_text else [reader_of(a.type.name) for a in attributes]
                cursor = await statement.cursor(*args)
                while rows := await cursor.fetch(batch_size):
                    records += self._records(found, rows, readers, None)
        except (asyncpg.PostgresError, OSError, asyncpg.InterfaceError) as e:
            raise self.error(e, "read") from e
        except (ValueError, OverflowError) as e:
            raise self.unreadable(e) from e
        if wanted is not None:  # in the order of the table, as a whole read gives them
            at = dict(zip(wanted, range(len(wanted)), strict=True))
            records.sort(key=lambda record: at[cast(str, record[key])])
        return records

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
        # The job's own SELECT, or every column of a table the catalogue named.
        sql = self._query if self._query is not None else f"SELECT * FROM {self._q}"
        args: list[Any] = []
        if changed is not None:
            column, since = changed
            condition = changed_since(self._columns[column], since)
            if condition is not None:
                sql, args = f"{sql} WHERE {condition}", [str(since)]
        if lookup is not None:
            sql, args = self._lookup(sql, *lookup)
        try:
            async with (
                self.connection(read=True) as conn,
                conn.transaction(readonly=True, isolation="repeatable_read"),
            ):
                statement = await prepared(conn, sql)
                attributes = statement.get_attributes()
                names = [attribute.name for attribute in attributes]
                if twice := sorted({name for name in names if names.count(name) > 1}):
                    # A record holds one value per name: the last column hid the others.
                    raise BadInput(
                        f"{self._where}: the query names the column {twice[0]!r} twice; give "
                        "each column its own name (`AS`)"
                    )
                as_text = all(reads_str(a.type.name, a.type.kind == "array") for a in attributes)
                readers = None if as_text else [reader_of(a.type.name) for a in attributes]
                mark = names.index(changed[0]) if changed is not None else None
                cursor = await statement.cursor(*args)
                while rows := await cursor.fetch(batch_size):
                    yield self._records(names, rows, readers, mark)
        except (asyncpg.PostgresError, OSError, asyncpg.InterfaceError) as e:
            raise self.error(e, "read") from e
        except (ValueError, OverflowError) as e:
            raise self.unreadable(e) from e

    def unreadable(self, e: Exception) -> BadInput:
        """A value the driver cannot decode into Python's (a date BC or after 9999): the
        read fails, saying how to read it."""
        return BadInput(
            f"{self._where}: cannot read a value: {e} (PostgreSQL holds dates and times "
            "before year 1 and after 9999, Python does not): read such a column as text, "
            "a `query` selecting it as `column::text`"
        )

    def _lookup(self, sql: str, column: str, values: Sequence[str]) -> tuple[str, list[Any]]:
        """The statement of a lookup and its arguments (`read_keys`)."""
        text = f"{quote(column)}::text"
        exact = f"{sql} WHERE {text} = ANY($1::text[])"
        if self._columns[column].kind in _SPELLED:
            return exact, [list(values)]
        spelled = (
            f"(ascii({text}) = ANY($2::int4[]) OR ascii(right({text}, 1)) = ANY($2::int4[])"
            f' OR (octet_length({text}) <> length({text}) AND {text} COLLATE "C" ~ $3))'
        )
        return f"{exact} OR {spelled}", [list(values), ascii_spaces(), unsettled()]

    async def size_hint(self) -> int:
        """About how many rows the table holds: the statistics' rows per page times the
        pages it has now (as PostgreSQL's own planner estimates it); counted, up to
        COUNTED_UP_TO, while the statistics know nothing of its rows — a table never
        analysed, or last analysed empty, as one just filled by a first run is until
        autovacuum comes by (a view: its statistics, 0 when unknown)."""
        if not self._opened or self._query is not None or not self._columns:
            return 0
        async with self.connection() as conn:
            row = await conn.fetchrow(_STATISTICS, self._q)
            if row is None:
                return 0
            tuples, pages, kind, now = row
            if tuples > 0 and pages > 0 and now is not None:
                return int(tuples / pages * now)
            if kind not in ("r", "m", "p"):
                return max(int(tuples), 0)
            counted = f"SELECT count(*) FROM (SELECT FROM {self._q} LIMIT {COUNTED_UP_TO}) AS s"
            return int(await conn.fetchval(counted) or 0)

    def canonical_value(self, column: Column | None, value: Value, delimiter: str | None) -> Value:
        return canonical_value(column, value, delimiter)

    def orders_changes(self, column: Column) -> bool:
        return orders_changes(column)

    def highest_text(self, column: Column) -> Callable[[object], str]:
        return text_of
