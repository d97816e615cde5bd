"""Reading a CSV file: its header checked, its rows as records a batch at a time."""

from __future__ import annotations

import itertools
from collections.abc import Iterator

from core.errors import BadInput
from schemas.values import Record, records_from_rows

from ..base import Layout
from .connection import CsvFile, Row


def header(file: CsvFile, rows: Iterator[Row], *, source: bool) -> list[str] | None:
    """The validated header row; None for an empty file (an empty destination)."""
    first = next(rows, None)
    if first is None:
        if source:
            raise BadInput(f"{file.path}: the file is empty; a header row must name the fields")
        return None
    line, names = first
    seen: dict[str, int] = {}
    for column, name in enumerate(names, 1):
        if not name:
            raise BadInput(f"{file.path}:{line}: column {column} of the header has no name")
        if name in seen:
            raise BadInput(
                f"{file.path}:{line}: the header names {name!r} twice "
                f"(columns {seen[name]} and {column}); column names must be unique"
            )
        seen[name] = column
    return names


def take(
    file: CsvFile, rows: Iterator[Row], names: list[str], n: int, layout: Layout
) -> list[Record]:
    """The next `n` rows (fewer at the end of the file) as records."""
    delimiters = [layout.multi_valued.get(name) for name in names]
    width = len(names)
    cells: list[list[str]] = []
    for line, row in itertools.islice(rows, n):
        if len(row) != width:
            check_width(file, line, row, names)
        cells.append(row)
    return records_from_rows(names, cells, delimiters)


def check_width(file: CsvFile, line: int, row: list[str], names: list[str]) -> None:
    if len(row) != len(names):
        raise BadInput(f"{file.path}:{line}: {len(row)} fields, the header has {len(names)}")
