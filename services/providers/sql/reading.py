"""Reading a table or a job's SELECT, as both SQL providers do it: a whole read, the rows
changed since a watermark (chosen by the server by a date-time or number column, filtered
here by a text column or on a SELECT),
and a source's record put in the spelling the table gives back. Each provider's read.py
streams the rows (`_rows`) with its driver's server-side cursor."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Iterable, Sequence
from itertools import chain, repeat
from operator import contains
from typing import Any, ClassVar, cast

from core.errors import BadInput
from schemas.values import PlainColumns, Record, Value, normalize, records_from_rows

from ..changes import FieldChanges, HighestRead, endless, filtered, needs_field
from .table import Col, Conn, SqlTable
from .values import fits, reads_as_given


def _texts(values: Sequence[object]) -> bool:
    """Whether every value is text (str, or a subclass: `canonical` gives it back too)."""
    try:
        "".join(cast(Sequence[str], values))
    except TypeError:
        return False
    return True


class SqlReading(SqlTable[Conn, Col]):
    """The reading half of an SQL provider."""

    _given: tuple[dict[str, Col], frozenset[str], frozenset[str]] | None = None
    spells_values: ClassVar[bool] = True
    """Typed columns read in one spelling (`canonical` gives a value in it): a job's
    `where` compares with the text it is given in that spelling too (planning/source.py
    `spelled`)."""

    def _rows(
        self,
        batch_size: int,
        changed: tuple[str, str | None] | None = None,
        lookup: tuple[str, Sequence[str]] | None = None,
    ) -> AsyncIterator[list[Record]]:
        """The rows, or with `changed` (column, since) those changed since the watermark,
        noting the highest value of the column in `self._highest`, or with `lookup`
        (column, values) those whose column holds one of the values."""
        raise NotImplementedError

    def canonical_value(self, column: Col | None, value: Value, delimiter: str | None) -> Value:
        """A record value as this column would give it back."""
        raise NotImplementedError

    def orders_changes(self, column: Col) -> bool:
        """Whether the server orders a change column's values (a date-time or number
        column; text is compared here, by its kind). BadInput for a column that cannot
        order changes."""
        raise NotImplementedError

    def highest_text(self, column: Col) -> Callable[[object], str]:
        """The canonical text of a change column's value as the driver decoded it."""
        raise NotImplementedError

    async def read(self, batch_size: int) -> AsyncIterator[list[Record]]:
        async for batch in self._rows(batch_size):
            yield batch

    async def _refresh(self) -> None:
        """A destination created since `open` (by this provider's first write)."""
        if self._opened:
            async with self.connection() as conn:
                await self.load_columns(conn)

    async def load_columns(self, conn: Any) -> None:
        raise NotImplementedError

    def read_changed(
        self, batch_size: int, since: str | None, field: str | None
    ) -> AsyncIterator[list[Record]]:
        """A table's changed rows are chosen by the server by a date-time or number column
        (WHERE the column >= the watermark, compared in the column's type), the watermark
        being the highest value read. By a text column, or on a job's SELECT, the rows are
        filtered here as CSV and SQLite are (changes.py), each value by its kind: a text
        "N/A" never becomes the watermark that would hide every later change."""
        field = needs_field(self.tag, field)
        self._changes = self._highest = self._endless = None
        if self._query is None:
            column = self._columns.get(field)
            if column is None:
                raise BadInput(
                    f"{self._where}: the job's changes.field {field!r} is not a column of the "
                    f"table{self.close_columns(field)}"
                )
            if self.orders_changes(column):
                if since is not None and endless(since):
                    self._endless = (
                        f"the stored watermark {since!r} of changes field {field!r} says no "
                        "time nor number: ignored, every record read"
                    )
                    since = None
                self._highest = HighestRead(since, self.highest_text(column))
                return self._rows(batch_size, (field, since))
        self._changes = FieldChanges(field, since)
        return filtered(self.read(batch_size), self._changes)

    def watermark(self) -> str | None:
        if self._highest is not None:
            return self._highest.watermark()
        return self._changes.watermark() if self._changes else None

    def fell_back(self) -> str | None:
        if self._endless is not None:
            return self._endless
        return self._changes.fell_back() if self._changes else None

    def change_warnings(self) -> list[str]:
        if self._endless is not None:
            return [self._endless]
        return self._changes.warnings if self._changes else []

    def _records(
        self,
        names: Sequence[str],
        rows: Iterable[Any],
        value_of: Sequence[Callable[[object, str | None], Value | None]] | None,
        mark: int | None,
    ) -> list[Record]:
        """Rows as records, noting the change column's values (at `mark`) in
        `self._highest`; `value_of` each column's reading, None when every column is read
        as text, as stored."""
        multi = self._layout.multi_valued
        delimiters = [multi.get(name) for name in names]
        if mark is not None and self._highest is not None:
            rows = list(rows)
            for row in rows:
                self._highest.see(row[mark])
        if value_of is None:
            return records_from_rows(names, rows, delimiters)
        shapes = list(zip(names, value_of, delimiters, strict=True))
        return [
            normalize(
                {
                    name: read(raw, delimiter)
                    for (name, read, delimiter), raw in zip(shapes, row, strict=True)
                }
            )
            for row in rows
        ]

    @property
    def _spelled_in(self) -> dict[str, Col]:
        """The columns whose values `canonical` gives as read: a table's, or a job's
        SELECT's as described when opened (a `where` on it compares alike)."""
        return self._columns if self._query is None else self._described

    def _given_names(self) -> frozenset[str]:
        """The columns that give back the text they were given (text of single values) —
        of a bounded one (varchar(n)), a text within its bound (`_bounded_names`)."""
        columns = self._spelled_in
        if self._given is None or self._given[0] is not columns:
            given = frozenset(name for name, column in columns.items() if reads_as_given(column))
            bounded = frozenset(name for name in given if columns[name].length is not None)
            self._given = (columns, given, bounded)
        return self._given[1]

    def _bounded_names(self) -> frozenset[str]:
        """The columns among `_given_names` of a bounded length."""
        self._given_names()
        assert self._given is not None
        return self._given[2]

    def canonical_as_is(
        self, names: Sequence[str], columns: Sequence[Sequence[Value | None]]
    ) -> bool:
        """Whether `canonical` gives every record back as it is, the records given a field
        at a time (`names[i]`'s values in `columns[i]`, a record's order, None where a
        record lacks the field): each field of a column giving back its text (or of no
        column) and in every record, non-empty text in a single-valued one, non-empty lists
        of non-empty texts without the delimiter in a multi-valued one; looked at in C."""
        columns_of, multi, given = self._spelled_in, self._layout.multi_valued, self._given_names()
        bounded = self._bounded_names()
        plain = isinstance(columns, PlainColumns)  # their kinds known: not looked at again
        for name, values in zip(names, columns, strict=True):
            if name not in given and name in columns_of:
                return False
            delimiter = multi.get(name)
            if plain:
                if values and (values[0].__class__ is list) != (delimiter is not None):
                    return False  # a column's values of one kind: lists, or text
            elif not all(values):  # empty, or missing from a record
                return False
            if delimiter is None:
                if not plain and not _texts(values):
                    return False
                if name in bounded and not fits(columns_of[name], cast(Sequence[str], values)):
                    return False
                continue
            if not plain and list(map(type, values)).count(list) != len(values):
                return False
            lists = cast(Sequence[list[str]], values)
            items = list(chain.from_iterable(lists))
            if not plain and (not all(items) or not _texts(items)):
                return False
            if "\x00" in delimiter:
                if any(map(contains, items, repeat(delimiter))):
                    return False
            elif delimiter in "\x00".join(items):  # no item holds it (NUL in none)
                return False
            if name in bounded and not fits(columns_of[name], list(map(delimiter.join, lists))):
                return False  # joined, longer than the column's bound
        return True

    def value_folds(self, field: str) -> bool:
        """Whether the table holds two values of `field` equal that differ in case alone
        (citext, a collation without case): a reference `by` it is looked up so."""
        column = self._columns.get(field)
        return column is not None and column.folds

    def canonical(self, record: Record) -> Record:
        columns, multi = self._spelled_in, self._layout.multi_valued
        given, bounded = self._given_names(), self._bounded_names()
        for name, value in record.items():
            if name not in given and name in columns:
                break
            if type(value) is str:
                if value and name not in multi:
                    if bounded and name in bounded and not fits(columns[name], [value]):
                        break
                    continue
                break
            delimiter = multi.get(name)
            if (
                delimiter is None
                or type(value) is not list
                or not value
                or not all(item and delimiter not in item for item in value)
                or (name in bounded and not fits(columns[name], [delimiter.join(value)]))
            ):
                break
        else:
            return record  # text columns give back the text they were given
        return normalize(
            {
                name: self.canonical_value(columns.get(name), value, multi.get(name))
                for name, value in record.items()
            }
        )
