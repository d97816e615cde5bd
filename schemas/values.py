"""Record values: what flows between providers, the engine and the work queue.

A value is text, a list of texts (multi-valued) or binary. Empty text, an empty
list, SQL NULL and a missing field all mean "no value": `normalize` drops them,
so two records compare equal exactly when they hold the same values.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Iterable, Sequence
from itertools import chain, compress, repeat
from operator import contains, itemgetter, setitem
from typing import cast

import msgspec


class Binary(msgspec.Struct, frozen=True):
    """Binary data (a photo, a certificate); base64 in JSON and text files."""

    data: bytes


Value = str | list[str] | Binary
Record = dict[str, Value]


def is_empty(value: Value | None) -> bool:
    """True for every spelling of "no value"."""
    if value is None:
        return True
    if isinstance(value, Binary):
        return not value.data
    return len(value) == 0


def normalize(record: dict[str, Value | None]) -> Record:
    """The record without its empty values; lists lose empty items; one-item lists stay lists."""
    out: Record = {}
    for name, value in record.items():
        if isinstance(value, list):
            value = [item for item in value if item != ""]
        if value is None or is_empty(value):
            continue
        out[name] = value
    return out


def as_text(value: Value, delimiter: str) -> str:
    """One column's text for a value: lists joined with the delimiter, binary as base64."""
    if isinstance(value, str):
        return value
    if isinstance(value, Binary):
        import base64

        return base64.b64encode(value.data).decode("ascii")
    return delimiter.join(value)


def record_from_cells(
    names: Sequence[str], cells: Iterable[str | None], delimiters: Sequence[str | None]
) -> Record:
    """A normalized record from one row of text cells (CSV, SQL text columns): empty cells
    dropped, multi-valued cells (a delimiter) split. The hot path of reading a file."""
    record: Record = {}
    for name, cell, delimiter in zip(names, cells, delimiters, strict=True):
        if not cell:
            continue
        if delimiter is None:
            record[name] = cell
        elif items := [item for item in cell.split(delimiter) if item]:
            record[name] = items
    return record


def records_from_rows(
    names: Sequence[str], rows: Iterable[Sequence[str | None]], delimiters: Sequence[str | None]
) -> list[Record]:
    """`record_from_cells` of each row, the same records (their fields in the same order)
    built a batch at a time: the non-empty cells by `compress` (in C), then the
    multi-valued ones split. A row must have as many cells as there are names."""
    rows = rows if isinstance(rows, list) else list(rows)
    if all(chain.from_iterable(rows)) and set(map(len, rows)) <= {len(names)}:
        return _full_rows(names, rows, delimiters)
    multi = [(name, d) for name, d in zip(names, delimiters, strict=True) if d is not None]
    # compress keeps the non-empty cells: text, never None
    pairs = (compress(zip(names, row, strict=True), row) for row in rows)
    records = cast(list[Record], [dict(kept) for kept in pairs])
    for name, delimiter in multi:
        for record in records:
            cell = cast(str | None, record.get(name))  # a cell's text, not split yet
            if cell is None:
                continue
            items = cell.split(delimiter)
            if "" in items:
                items = [item for item in items if item]
                if not items:
                    del record[name]
                    continue
            record[name] = items
    return records


def _full_rows(
    names: Sequence[str], rows: list[Sequence[str | None]], delimiters: Sequence[str | None]
) -> list[Record]:
    """`records_from_rows` of rows whose every cell is non-empty text (the usual batch):
    each row zipped with the names (in C), each multi-valued column split a column at a
    time; a column with an empty item (a delimiter doubled, first or last) goes the
    usual way, item by item."""
    records = cast(list[Record], list(map(dict, map(zip, repeat(names), rows))))
    for at, (name, delimiter) in enumerate(zip(names, delimiters, strict=True)):
        if delimiter is None:
            continue
        cells = cast(list[str], list(map(itemgetter(at), rows)))
        split = list(map(str.split, cells, repeat(delimiter)))
        if any(map(contains, split, repeat(""))):
            for record, items in zip(records, split, strict=True):
                if "" in items:
                    if kept := [item for item in items if item]:
                        record[name] = kept
                    else:
                        del record[name]
                else:
                    record[name] = items
        else:
            deque(map(setitem, records, repeat(name), split), maxlen=0)
    return records


class TextRows:
    """A batch of records as the rows of text cells they were read from (a CSV file's),
    not made into records yet: `records()` makes them, as `records_from_rows` does. A
    reader that can keep the cells (`ReadsRows`) gives these, for a batch copied as it is
    to be taken a column at a time, with no record made (CompiledMapping.copied_rows)."""

    __slots__ = ("delimiters", "names", "rows")

    def __init__(
        self, names: Sequence[str], rows: list[list[str]], delimiters: Sequence[str | None]
    ) -> None:
        self.names = names
        self.rows = rows
        """Each row's cells (`str` itself), as many as `names`; an empty cell is no value."""
        self.delimiters = delimiters
        """Each column's delimiter, splitting its cell into values; None: single-valued."""

    def __len__(self) -> int:
        return len(self.rows)

    def records(self) -> list[Record]:
        return records_from_rows(self.names, self.rows, self.delimiters)


class PlainColumns(list[list[Value]]):
    """Columns (each a field's values, in the records' order) every value of which is
    non-empty text (`str` itself) or a non-empty list of non-empty texts (`str` itself),
    each column's of one kind: what a CSV batch copied as it is holds
    (`CompiledMapping.copied_rows`). Said where it is known, so that the planner and a
    destination need not look at each value again."""

    __slots__ = ()


def records_from_columns(names: Sequence[str], columns: Sequence[Sequence[Value]]) -> list[Record]:
    """One record a row of `columns` (each a field's values, in the records' order), its
    fields in the order of `names`; built in C."""
    return cast(list[Record], list(map(dict, map(zip, repeat(names), zip(*columns, strict=True)))))


def columns_from_records(records: list[Record]) -> tuple[list[str], list[list[Value | None]]]:
    """The records a field at a time, as `records_from_columns` takes them: the fields any
    record holds (in the order first met) and each one's values, None where a record lacks
    the field."""
    names = list(dict.fromkeys(chain.from_iterable(records)))
    return names, [list(map(dict.get, records, repeat(name))) for name in names]


def split_text(text: str, delimiter: str | None) -> Value:
    """The value one column's text holds: split into a list when the field is multi-valued."""
    if delimiter is None:
        return text
    return [item for item in text.split(delimiter) if item != ""]
