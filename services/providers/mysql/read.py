"""Reading a MySQL table or a job's SELECT: an unbuffered (server-side streamed) cursor in
a read-only transaction with a consistent snapshot, fetched in batches, so a large table
is never held whole; on a connection of its own — the pool's while it has one to spare
for batches (sql/pools.py), else one logged in for the read —, so writing the same side
while a read is under way does not wait for it."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from functools import partial
from operator import itemgetter
from typing import Any, cast

from asyncmy.cursors import SSCursor
from asyncmy.errors import MySQLError

from core.errors import BadInput
from schemas.connections import MysqlConnection
from schemas.values import Record, Value

from ..keyforms import ascii_spaces, asked_only, compared, made_once
from ..sql.reading import SqlReading
from ..sql.values import reads_as_given
from .connection import MysqlTable, execute, fetch
from .values import (
    Column,
    Param,
    canonical_value,
    changed_since,
    field_kind,
    orders_changes,
    quote,
    text_of,
    value_of,
    with_params,
)

COUNTED_BELOW = 1_000
"""Rows an estimate of a table's size may say where the table is counted instead (InnoDB
says 1 of an empty table)."""
KEYS_PER_QUERY = 500
"""Values looked up per query in a column that is not text."""
LOOKED_UP = 10_000
"""Rows a re-run reads whole by their keys at most (`read_unless_same`); more, and the
table is read whole in the same snapshot, the others left out (a statement of fewer
arguments)."""
_EDGES = (*ascii_spaces(), 0x85, 0xA0)
"""A key's first or last byte that may be a space: ASCII's, and latin1's (in UTF-8 they
are never a character's first byte)."""
_TESTED = ("utf8", "utf8mb3", "utf8mb4", "latin1", "ascii")
"""Character sets whose keys a lookup can test as a run compares them (`_spelled`)."""
_NOT_ABOUT_ROWS = frozenset({1287, 1681})
"""Warnings about a statement's spelling, not its rows: a deprecated syntax or variable,
an integer's display width."""
_Statement = tuple[str, tuple[Param, ...], frozenset[str] | None]
"""A statement, its arguments, and the keys to keep of the records it finds (None: all)."""


def _in_utf8mb4(field: str, declared: str) -> str:
    """The column as a lookup compares it with the keys asked for: as it is in utf8mb4;
    converted to it from any other character set, where a key the column's set cannot
    hold ("Ł" in latin1) would make the server refuse the comparison (an illegal
    mix of collations) rather than find no row."""
    _, _, charset = declared.partition(" CHARACTER SET ")
    if charset.split(" ")[0] == "utf8mb4":
        return quote(field)
    return f"CONVERT({quote(field)} USING utf8mb4)"


class MysqlReading(MysqlTable, SqlReading[MysqlConnection, Column]):
    """The reading half of the provider."""

    @property
    def _select(self) -> str:
        """The table's rows, every column: a FLOAT as a DOUBLE, which holds its single
        exactly — the server sends a FLOAT's text with six significant digits (1234567 as
        1234570). The names are the catalogue's, quoted."""
        columns = self._columns.values()
        if not any(column.kind == "float4" for column in columns):
            return f"SELECT * FROM {self._q}"
        listed = ", ".join(
            f"CAST({quote(c.name)} AS DOUBLE) AS {quote(c.name)}"
            if c.kind == "float4"
            else quote(c.name)
            for c in columns
        )
        return f"SELECT {listed} FROM {self._q}"

    def reads_keys(self, field: str) -> bool:
        """A table's column (a job's SELECT is read whole), of a character set whose keys
        can be tested (`read_keys`)."""
        column = self._columns.get(field) if self._query is None else None
        if column is None:
            return False
        _, has_set, charset = column.declared.partition(" CHARACTER SET ")
        return not has_set or charset.split(" ")[0] in _TESTED

    def finds_every_key(self, field: str) -> bool:
        """In a column of text of a character set, where the lookup asks for every key
        in another spelling too (and the column's collation finds more, never fewer); a
        typed column compares as its type, which a whole read's text may not."""
        column = self._columns.get(field)
        return (
            self.reads_keys(field)
            and column is not None
            and column.kind == "text"
            and column.reads_str
        )

    async def read_keys(
        self, field: str, values: Sequence[str], batch_size: int
    ) -> AsyncIterator[list[Record]]:
        """The rows whose column holds one of `values` as a run compares keys
        (keyforms.py), of each query the records of the keys it asks for. In a column of
        text, one query (a scan, in the table's order): the rows its collation finds,
        and any whose text may be spelled otherwise (with a cheap test first); in a
        column of numbers, dates, …, a few hundred values per query (by its index)."""
        wanted = sorted(compared(values))
        column = self._columns[field]
        spelled = column.kind in ("text", "json")
        test, test_args = self._spelled(field, await made_once()) if spelled else ("", ())
        statements: list[_Statement] = []
        some_in = f"{self._select} WHERE {quote(field)} IN "
        if spelled and wanted:
            compared_as = _in_utf8mb4(field, column.declared)
            sql = f"{self._select} WHERE {compared_as} IN "
            sql += f"({', '.join(['%s'] * len(wanted))}) OR {test}"
            statements.append((sql, (*wanted, *test_args), None))
        for at in range(0, len(wanted) if not spelled else 0, KEYS_PER_QUERY):
            some = tuple(wanted[at : at + KEYS_PER_QUERY])
            sql = f"{some_in}({', '.join(['%s'] * len(some))})"
            statements.append((sql, some, frozenset(some)))
        everything = frozenset(wanted)
        # (numbers or dates compared with keys that are none warn of the keys, not rows)
        async for batch, keep in self._statements(batch_size, statements, strict=spelled):
            if found := asked_only(batch, field, keep or everything):
                yield found

    def row_columns(self, key: str) -> list[str] | None:
        """Every column of a table (not a job's SELECT), when each is text of a character
        set that gives back what it was given (`reads_as_given`: not CHAR(n), not JSON)
        or its members (ENUM, SET: the records are compared as `canonical` makes them),
        `key` one of them."""
        columns = self._columns
        if self._query is not None or key not in columns:
            return None
        if not all(
            (reads_as_given(c) or not c.keeps_text) and c.reads_str for c in columns.values()
        ):
            return None
        return list(columns)

    async def read_unless_same(
        self,
        key: str,
        choose: Callable[[list[str | None], list[str | None]], Awaitable[list[str] | None]],
        batch_size: int,
    ) -> list[Record]:
        """Every row's key and text (each cell in utf8mb4, as the connection reads it;
        joined by CONCAT, so NULL where a cell is) by a streamed cursor, then the rows
        `choose` asks for whole — their keys compared byte for byte, no collation nor
        padding —, in the same read-only snapshot; `row_columns(key)` must have given the
        columns."""
        names = self.row_columns(key)
        assert names is not None
        cells = ", CHAR(31 USING utf8mb4), ".join(map(_as_read, names))
        sql = f"SELECT {_as_read(key)}, CONCAT({cells}) FROM {self._q}"
        keys: list[str | None] = []
        texts: list[str | None] = []
        records: list[Record] = []
        try:
            async with self.connection(read=True) as conn:
                await execute(conn, "START TRANSACTION WITH CONSISTENT SNAPSHOT, READ ONLY")
                cursor = conn.cursor(SSCursor)
                await cursor.execute(sql)
                while rows := await cursor.fetchmany(batch_size):
                    keys += map(itemgetter(0), rows)
                    texts += map(itemgetter(1), rows)
                await cursor.close()
                wanted = await choose(keys, texts)
                statements: list[_Statement] = []
                if wanted is None or len(wanted) > LOOKED_UP:
                    statements.append((self._select, (), None))
                elif wanted:
                    exact = f"CAST({_as_read(key)} AS BINARY)"
                    some = ", ".join(["CAST(%s AS BINARY)"] * len(wanted))
                    lookup = f"{self._select} WHERE {exact} IN ({some})"
                    statements.append((lookup, tuple(wanted), None))
                async for batch, _ in self._fetched(conn, batch_size, statements):
                    records += batch
                if wanted is not None and len(wanted) > LOOKED_UP:  # read whole: in order
                    keep = frozenset(wanted)
                    records = [record for record in records if record.get(key) in keep]
                    wanted = None
                await execute(conn, "COMMIT")
        except (MySQLError, OSError) as e:
            raise self.error(e, "read") from e
        if wanted:  # in the order of the table, as a whole read gives them
            at = dict(zip(wanted, range(len(wanted)), strict=True))
            records.sort(key=lambda record: at[cast(str, record[key])])
        return records

    @staticmethod
    def _spelled(field: str, pattern: str) -> tuple[str, tuple[Param, ...]]:
        """The test that a row's key may be spelled otherwise than a run compares it: a
        space at an end, or (a character beyond ASCII) the regular expression."""
        c = quote(field)
        edges = ", ".join(["%s"] * len(_EDGES))
        test = (
            f"(ASCII({c}) IN ({edges}) OR ASCII(RIGHT({c}, 1)) IN ({edges})"
            f" OR (LENGTH({c}) <> CHAR_LENGTH({c}) AND CONVERT({c} USING utf8mb4) REGEXP %s))"
        )
        return test, (*_EDGES, *_EDGES, pattern)

    async def _rows(
        self,
        batch_size: int,
        changed: tuple[str, str | None] | None = None,
        lookup: tuple[str, Sequence[str]] | None = None,
    ) -> AsyncIterator[list[Record]]:
        sql = self._query if self._query is not None else self._select
        args: tuple[Param, ...] = ()
        if changed is not None:
            field, since = changed
            condition = changed_since(self._columns[field], since)
            if condition is not None:
                sql, args = f"{sql} WHERE {condition[0]}", (condition[1],)
        if lookup is not None:
            async for batch in self.read_keys(lookup[0], lookup[1], batch_size):
                yield batch
            return
        async for batch, _ in self._statements(batch_size, [(sql, args, None)], changed, True):
            yield batch

    async def _statements(
        self,
        batch_size: int,
        statements: Sequence[_Statement],
        changed: tuple[str, str | None] | None = None,
        strict: bool = False,
    ) -> AsyncIterator[tuple[list[Record], frozenset[str] | None]]:
        """Each statement's rows, in one read-only transaction (one snapshot), with the
        keys to keep of them; `strict`: a statement the server warned about fails
        (`_refuse_warnings`)."""
        if self._query is None and not self._columns:
            await self._refresh()
            if not self._columns:
                return  # a destination that does not exist yet
        try:
            # Left unfinished (a reader that stopped early), the connection still holds
            # the streamed result: it is closed then, not given back (table.py).
            async with self.connection(read=True) as conn:
                await execute(conn, "START TRANSACTION WITH CONSISTENT SNAPSHOT, READ ONLY")
                async for found in self._fetched(conn, batch_size, statements, changed, strict):
                    yield found
                await execute(conn, "COMMIT")
        except (MySQLError, OSError) as e:
            raise self.error(e, "read") from e

    async def _fetched(
        self,
        conn: Any,
        batch_size: int,
        statements: Sequence[_Statement],
        changed: tuple[str, str | None] | None = None,
        strict: bool = False,
    ) -> AsyncIterator[tuple[list[Record], frozenset[str] | None]]:
        """Each statement's rows as records on `conn` (in its transaction), with the keys
        to keep of them; `strict`: a statement the server warned about fails."""
        for sql, args, keep in statements:
            cursor = conn.cursor(SSCursor)
            # A job's own query is passed as written; the provider's names are quoted.
            made = args and self._query is None
            await cursor.execute(with_params(sql) if made else sql, args or None)
            names = [str(d[0]) for d in cursor.description]
            columns = [self._columns.get(name) if self._query is None else None for name in names]
            kinds = [
                column.kind if column is not None else field_kind(int(d[1]), int(d[3] or 0))
                for column, d in zip(columns, cursor.description, strict=True)
            ]
            as_text = all(column is not None and column.reads_str for column in columns)
            readers = None if as_text else [partial(_read, kind) for kind in kinds]
            mark = names.index(changed[0]) if changed is not None else None
            while rows := await cursor.fetchmany(batch_size):
                yield self._records(names, rows, readers, mark), keep
            await cursor.close()
            if strict:
                await self._refuse_warnings(conn)

    async def _refuse_warnings(self, conn: Any) -> None:
        """A SELECT the server warned about fails the read: MariaDB answers an expression
        that fails on a row (a division by zero, a text cast to a number or a date it is
        not) with NULL, 0 or a cut value and a warning, where PostgreSQL fails — read so,
        a value would look absent, and be cleared. Notes, and warnings of a deprecated
        spelling, are not about the rows."""
        warned = [
            (str(level), int(code), str(message))
            for level, code, message in await fetch(conn, "SHOW WARNINGS")
            if str(level) != "Note" and int(code) not in _NOT_ABOUT_ROWS
        ]
        if warned:
            level, code, message = warned[0]
            more = f" (and {len(warned) - 1} more)" if len(warned) > 1 else ""
            raise BadInput(
                f"{self._where}: the server warned while reading: {message} ({level} "
                f"{code}){more}; the value was read as NULL, 0 or cut, so nothing is planned "
                "from it: correct the rows, or the view or query, so that they read without "
                "warnings"
            )

    async def size_hint(self) -> int:
        """About how many rows the table holds: the storage engine's own count as EXPLAIN
        gives it, live (information_schema's TABLE_ROWS, which MySQL 8 caches for a day,
        can still say 0 of a table a first run just filled); TABLE_ROWS where EXPLAIN is
        refused (a view, without SHOW VIEW). A table that estimate says holds no more than
        COUNTED_BELOW rows is counted, up to that many: InnoDB says 1 of an empty table,
        which is no first run's empty destination then (low_memory.py `lean_enough`)."""
        if not self._opened or self._query is not None or not self._columns:
            return 0
        async with self.connection() as conn:
            estimate = await self._estimate(conn)
            if estimate > COUNTED_BELOW:
                return estimate
            try:
                few = f"SELECT 1 FROM {self._q} LIMIT {COUNTED_BELOW + 1}"
                counted = await fetch(conn, f"SELECT count(*) FROM ({few}) AS s")
            except MySQLError:
                return estimate
        return int(counted[0][0]) if counted else estimate

    async def _estimate(self, conn: Any) -> int:
        """`size_hint`'s estimate: EXPLAIN's rows, else TABLE_ROWS; 0 when unknown."""
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

    def orders_changes(self, column: Column) -> bool:
        return orders_changes(column)

    def highest_text(self, column: Column) -> Callable[[object], str]:
        return partial(text_of, kind=column.kind)


def _as_read(name: str) -> str:
    """A column of text in utf8mb4, as the connection reads it (whatever its own set)."""
    return f"CONVERT({quote(name)} USING utf8mb4)"


def _read(kind: str, raw: object, delimiter: str | None) -> Value | None:
    return value_of(raw, kind, delimiter)
