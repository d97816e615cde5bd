"""Reading a SQLite table: rows streamed in batches, values as the table gives them back."""

from __future__ import annotations

import json
import re
import sqlite3
from collections.abc import AsyncIterator, Sequence
from itertools import chain
from typing import cast

from core.engine.transforms_base import RecordFailed
from schemas.values import (
    PlainColumns,
    Record,
    Value,
    normalize,
    record_from_cells,
    records_from_rows,
)

from ..changes import FieldChanges, filtered, needs_field
from ..keyforms import ascii_spaces, asked_only, compared, unsettled_text
from .connection import SqliteTable
from .values import ScopeProbe, param_of, quote, value_of

UNSETTLED = "idsync_unsettled"
"""The function a lookup registers on its connection: whether a text is spelled
otherwise than a run compares it (keyforms.unsettled_text)."""
_INT64 = range(-(2**63), 2**63)
_INTEGER = re.compile(r"-?[1-9][0-9]*|0")
"""A key as an INTEGER reads (`str`)."""
_TEXT = {str, type(None)}
"""The types of a batch's cells that read as they are: text, and NULL (no value)."""


class SqliteReading(SqliteTable):
    """The reading half of the provider."""

    async def read(self, batch_size: int) -> AsyncIterator[list[Record]]:
        async for batch in self._select(f"SELECT * FROM {self._q}{self._where}", (), batch_size):
            yield batch

    def reads_keys(self, field: str) -> bool:
        return field in self._columns or not self._columns

    def finds_every_key(self, field: str) -> bool:
        """Whatever the column's type: `read_keys` asks for the keys as the column
        compares them and for every row that may hold one in another spelling."""
        return self.reads_keys(field)

    async def read_keys(
        self, field: str, values: Sequence[str], batch_size: int
    ) -> AsyncIterator[list[Record]]:
        """The rows whose column holds one of `values` as a run compares keys
        (keyforms.py), in one scan, in the table's order: those the column finds as it
        compares ("042" finds 42 in a number column; 42 is asked as a number too in a
        column without a type), and every row whose key may be spelled otherwise — a
        space at an end, then, for a text beyond ASCII, `UNSETTLED`, and in a column
        without a type a real number —; of them, the records of the keys asked for."""
        wanted = compared(values)
        if self._db is None or not self._columns or not wanted:
            return
        await self._db.create_function(UNSETTLED, 1, unsettled_text, deterministic=True)
        c = quote(field)
        untyped = self._columns.get(field, "BLOB") == "BLOB"
        asked: list[str | int] = sorted(wanted)
        if untyped:  # 42 stored as a number reads as "42"
            numbers = (int(v) for v in wanted if _INTEGER.fullmatch(v))
            asked += [n for n in numbers if n in _INT64]
        edges = ", ".join(map(str, ascii_spaces()))
        test = (
            f"(unicode({c}) IN ({edges}) OR unicode(substr({c}, -1)) IN ({edges})"
            f" OR CASE WHEN length({c}) <> length(CAST({c} AS BLOB))"
            f" THEN {UNSETTLED}({c}) ELSE 0 END"
            + (f" OR typeof({c}) = 'real')" if untyped else ")")
        )
        scope = f"{self._where} AND" if self._where else " WHERE"
        sql = f"SELECT * FROM {self._q}{scope} ({c} IN (SELECT value FROM json_each(?)) OR {test})"
        async for batch in self._select(sql, (json.dumps(asked),), batch_size):
            if found := asked_only(batch, field, wanted):
                yield found

    async def _select(
        self, sql: str, params: tuple[str, ...], batch_size: int
    ) -> AsyncIterator[list[Record]]:
        if self._db is None or not self._columns:
            return  # a destination that does not exist yet
        self._keep = False  # a reader left unfinished holds its cursor: not kept after
        try:
            async with self._db.execute(sql, params) as cur:
                names = [d[0] for d in cur.description]
                delimiters = [self._layout.multi_valued.get(name) for name in names]
                while rows := await cur.fetchmany(batch_size):
                    if set(map(type, chain.from_iterable(rows))) <= _TEXT:
                        yield records_from_rows(names, rows, delimiters)
                        continue
                    yield [
                        record_from_cells(names, row, delimiters)
                        if all(type(cell) is str or cell is None for cell in row)
                        else self._record(names, row)
                        for row in rows
                    ]
        except sqlite3.Error as e:
            raise self._error(e, "read") from e

    def read_changed(
        self, batch_size: int, since: str | None, field: str | None
    ) -> AsyncIterator[list[Record]]:
        """Compared in Python as CSV compares them (changes.py), so that a typed column
        and its text agree; the rows are still streamed, never held."""
        self._changes = FieldChanges(needs_field("sqlite", field), since)
        return filtered(self.read(batch_size), self._changes)

    def watermark(self) -> str | None:
        return self._changes.watermark() if self._changes else None

    def fell_back(self) -> str | None:
        return self._changes.fell_back() if self._changes else None

    def change_warnings(self) -> list[str]:
        return self._changes.warnings if self._changes else []

    def _record(self, names: list[str], row: Sequence[object]) -> Record:
        multi = self._layout.multi_valued
        return normalize(
            {name: value_of(multi, name, raw) for name, raw in zip(names, row, strict=True)}
        )

    def canonical(self, record: Record) -> Record:
        if not self._probe.numeric(record) and self._text_only(record):
            kept = record  # text columns give back the text they were given
        else:
            multi = self._layout.multi_valued
            params = {name: param_of(multi, name, v) for name, v in record.items()}
            stored = self._probe.store(params)
            kept = normalize({name: value_of(multi, name, raw) for name, raw in stored.items()})
        if self._query and self._write:
            self._in_scope(kept)
        return kept

    def _in_scope(self, record: Record) -> None:
        """A destination's record whose row would lie outside the endpoint's `query`
        fails: written, no run would read it back — each would create it again, or write
        over a row of the table that is not the job's. Judged where the job writes every
        column the query names (the others' values are not known), on a whole record (not
        a value alone, as a reference's is spelled, nor its keys alone, as a failed
        record's are read)."""
        keys, fields = self._layout.keys, self._layout.fields
        if not keys or not fields or len(record) <= len(keys):
            return
        if any(key not in record for key in keys):
            return
        if self._scope is None:
            self._scope = ScopeProbe(self._query or "", [*keys, *fields], self._columns)
        if not self._scope.usable:
            return
        multi = self._layout.multi_valued
        if not self._scope.holds({name: param_of(multi, name, v) for name, v in record.items()}):
            raise RecordFailed(
                f"its row would lie outside the destination's query ({self._query}): no run "
                "would read it back; map the fields the query tests so that it holds, or "
                "leave the record out of the source's scope (`where`)"
            )

    def canonical_as_is(
        self, names: Sequence[str], columns: Sequence[Sequence[Value | None]]
    ) -> bool:
        """Whether `canonical` gives every record back as it is, the records given a field
        at a time (`names[i]`'s values in `columns[i]`, a record's order, None where a
        record lacks the field): no numeric column among their fields, every value
        non-empty text — or, in a multi-valued field, a list of non-empty texts none of
        which holds the delimiter. Looked at in C; False may also be said of some such
        batches (two items that make the delimiter when joined), which are then looked at
        one by one."""
        if self._probe.slots and self._probe.numeric(names):
            return False
        if self._query and self._write:
            return False  # each record tested against the query (`_in_scope`)
        multi = self._layout.multi_valued
        if isinstance(columns, PlainColumns):  # the values known plain: the delimiters alone
            return self._no_delimiters(names, columns)
        for name, values in zip(names, columns, strict=True):
            if None in values:  # fields some records lack
                values = [value for value in values if value is not None]
            if not all(values):
                return False  # empty text, an empty list
            kinds = set(map(type, values))
            if kinds <= {str}:
                continue
            delimiter = multi.get(name)
            if delimiter is None or not kinds <= {str, list}:
                return False  # binary, anything else, or a list in a single-valued field
            items = list(chain.from_iterable(v for v in values if v.__class__ is list))
            if not all(items) or set(map(type, items)) - {str}:
                return False
            if delimiter in "".join(items):
                return False
        return True

    def _no_delimiters(self, names: Sequence[str], columns: PlainColumns) -> bool:
        """Whether no item of a multi-valued field holds the field's delimiter (False also
        where two items make it when joined, as `canonical_as_is` says); a single-valued
        field holding lists is no such batch either."""
        multi = self._layout.multi_valued
        for name, values in zip(names, columns, strict=True):
            if not values or values[0].__class__ is not list:
                continue  # each column's values of one kind: text, or lists of it
            delimiter = multi.get(name)
            items = chain.from_iterable(cast(list[list[str]], values))
            if delimiter is None or delimiter in "".join(items):
                return False
        return True

    def _text_only(self, record: Record) -> bool:
        """Whether the record reads back as it is: non-empty text, and non-empty lists only
        in multi-valued fields whose values are non-empty and do not hold the delimiter."""
        multi = self._layout.multi_valued
        for name, value in record.items():
            if type(value) is str and value:
                continue
            delimiter = multi.get(name)
            if not isinstance(value, list) or delimiter is None or not value:
                return False
            for item in value:
                if not item or delimiter in item:
                    return False
        return True
