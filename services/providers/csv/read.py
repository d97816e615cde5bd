"""Reading a CSV file: its header checked, its rows as records a batch at a time."""

from __future__ import annotations

import contextlib
import csv
import itertools
from collections.abc import Callable, Iterator, Sequence
from typing import TYPE_CHECKING

from core.errors import BadInput
from schemas.values import Record, TextRows, record_from_cells

from ..base import Layout
from .connection import CsvFile, Row

if TYPE_CHECKING:
    from _csv import Reader


def header(file: CsvFile, rows: Iterator[Row], *, source: bool) -> list[str] | None:
    """The validated header row; None for an empty file (an empty destination)."""
    first = next(rows, None)
    if first is None:
        if source:
            raise BadInput(f"{file.path}: the file is empty; a header row must name the fields")
        return None
    line, names = first
    if source and names and not names[-1]:  # empty columns after the last name: no data
        file.width = len(names)
        while names and not names[-1]:
            names = names[:-1]
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


RowFilter = Callable[[list[list[str]]], list[list[str]]]
"""The rows of a batch kept (an incremental read's change field tested)."""


def take(
    file: CsvFile,
    reader: Reader,
    names: list[str],
    n: int,
    layout: Layout,
    keep: RowFilter | None = None,
) -> tuple[bool, list[Record]]:
    """`take_rows`' rows made into records."""
    more, rows = take_rows(file, reader, names, n, layout, keep)
    return more, rows.records()


def take_rows(
    file: CsvFile,
    reader: Reader,
    names: list[str],
    n: int,
    layout: Layout,
    keep: RowFilter | None = None,
) -> tuple[bool, TextRows]:
    """The next `n` rows (fewer at the end of the file), blank lines left out, and whether
    there were any (False: the end of the file). A row that is the header again is
    refused (`repeated_header`). Parsed a batch at a time (in C); a batch
    that cannot be read (a parse error, undecodable bytes, a row of another width) is read
    again row by row from the file's start, for the error to name its line as it would
    row by row (`again`). Only the rows `keep` keeps are given: a row left out costs no
    record."""
    delimiters = [layout.multi_valued.get(name) for name in names]
    width = file.width or len(names)
    try:
        cells = list(itertools.islice(reader, n))
        if not all(cells):  # blank lines are no rows: the batch topped up
            cells = list(filter(None, cells))
            while len(cells) < n and (more := list(itertools.islice(reader, n - len(cells)))):
                cells += filter(None, more)
    except (csv.Error, UnicodeError) as error:
        raise again(file, names, error) from error
    if any(map(width.__ne__, map(len, cells))):
        raise again(file, names, None)
    if width != len(names):
        if any(any(row[len(names) :]) for row in cells):
            raise again(file, names, None)
        cells = [row[: len(names)] for row in cells]
    if names in cells:
        raise repeated_header(file, names)
    kept = cells if keep is None else keep(cells)
    return bool(cells), TextRows(names, kept, delimiters)


def again(file: CsvFile, names: list[str], error: Exception | None) -> BadInput:
    """The error of a batch that could not be read in one go, as reading the file row by
    row from its start meets it: the line to fix named. (Should the file have changed
    since, and read well now: the error met, without its line — which the read, finding
    the file changed, reports as such: provider.py `_read`.)"""
    with file.open_text() as f, contextlib.closing(file.rows(f)) as rows:
        next(rows, None)  # the header
        for line, row in rows:
            check_width(file, line, row, names)
    return BadInput(f"{file.path}: {error or 'a row has another number of fields'}")


def repeated_header(file: CsvFile, names: list[str]) -> BadInput:
    """The error for a row that is the header again (two exports joined into one file):
    read as a record it would be an object keyed by the key column's name, and the rows
    after it another file's. The line is found reading the file row by row again."""
    with file.open_text() as f, contextlib.closing(file.rows(f)) as rows:
        next(rows, None)  # the header
        line = next((line for line, row in rows if row[: len(names)] == names), None)
    where = f"{file.path}:{line}" if line is not None else str(file.path)
    return BadInput(
        f"{where}: the header row again ({file.delimiter.join(names)}): the file holds "
        "two exports joined; remove the repeated header (or split the file) and run again"
    )


def check_width(file: CsvFile, line: int, row: list[str], names: list[str]) -> None:
    width = file.width or len(names)
    if len(row) != width:
        raise BadInput(f"{file.path}:{line}: {len(row)} fields, the header has {width}")
    filled = next((at for at in range(len(names), width) if row[at]), None)
    if filled is not None:
        raise BadInput(
            f"{file.path}:{line}: a value in column {filled + 1}, which has no name in the "
            "header; name the column, or clear the cell"
        )


def places(file: CsvFile, layout: Layout, records: Sequence[Record]) -> list[str | None]:
    """The line of each record ("hr.csv:12", a row's first line), as `base.Places` says:
    the file read again row by row, each record looked for after the line of the one
    before (two rows alike are two lines)."""
    found: list[str | None] = []
    with file.open_text() as f, contextlib.closing(file.rows(f)) as rows:
        first = next(rows, None)
        names = first[1] if first is not None else []
        while names and not names[-1]:  # as `header` reads them
            names = names[:-1]
        delimiters = [layout.multi_valued.get(name) for name in names]
        for record in records:
            wanted = {name: value for name, value in record.items() if name in names}
            place = None
            width = file.width or len(names)
            for line, row in rows:
                cells = row[: len(names)]
                if len(row) == width and record_from_cells(names, cells, delimiters) == wanted:
                    place = f"{file.name}:{line}"
                    break
            found.append(place)
    return found
