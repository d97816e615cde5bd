"""`mode = "update"` (the default): the workbook is loaded whole with openpyxl, the rows
of the batch's keys are changed where they are, new rows appended after the last one,
deleted rows removed (the rows below move up), and the workbook saved anew. Everything
else stays: other sheets, formatting, formulas, column widths, hidden sheets. A cell
that held a number, a boolean or a date keeps its type when the new text is one
(values.typed_like); a new row's cells take the type and style of the row above."""

from __future__ import annotations

import zipfile
from copy import copy
from typing import Any

from openpyxl import Workbook, load_workbook

from core.errors import BadInput, WriteFailed

from ..base import Layout
from .connection import ExcelFile, check_sizes, guarded, sniff
from .read import Header, resolve_header
from .rows import Cells, Key, Prepared, by_batch, by_key, fields_of, settle
from .values import padded, padded_width, text_of, typed_like, unescape
from .write import Errors, save_atomically, set_text

MAX_ROWS = 1_048_576
"""The most rows an Excel sheet has."""


def update(file: ExcelFile, layout: Layout, changes: list[Prepared]) -> Errors:
    """Apply the changes to the sheet in place; the errors of those not applied."""
    book = _load(file) if file.path.exists() else _new(file)
    table = Table(file, book, layout, changes)
    errors: Errors = {}
    for key, group in by_key(changes).items():
        for part in by_batch(group):
            rows = table.find(key)
            if rows:
                settled = [settle(table.cells(row), part) for row in rows]
                for row, (final, _) in zip(rows, settled, strict=True):
                    table.put(row, final)
                found = settled[0][1]
            else:
                final, found = settle(None, part)
                if final is not None:
                    table.append(final)
            errors.update((c.at, e) for c, e in zip(part, found, strict=True) if e is not None)
    if table.changed:
        table.finish()
        save_atomically(file.path, book.save)
    return errors


def _load(file: ExcelFile) -> Any:
    with file.path.open("rb") as raw, guarded(file.path):
        sniff(file.path, raw)
        with zipfile.ZipFile(raw) as archive:
            check_sizes(file.path, archive)
        raw.seek(0)
        return load_workbook(raw, data_only=False, keep_links=True)


def _new(file: ExcelFile) -> Any:
    book: Any = Workbook()
    book.active.title = file.sheet or "Sheet1"
    return book


class Table:
    """The sheet while a batch is applied: its header, its rows indexed by key."""

    def __init__(self, file: ExcelFile, book: Any, layout: Layout, changes: list[Prepared]) -> None:
        self.sheet = _sheet(book, file)
        self.where = file.where(self.sheet.title)
        self.changed = False
        self.deleted: set[int] = set()
        self.keys = layout.keys or (tuple(changes[0].match) if changes else ())
        # The sheet's cells by row, read once (asking openpyxl for a cell creates it).
        filled: dict[int, dict[int, object]] = {}
        for (r, c), cell in self.sheet._cells.items():
            if cell.value is not None and cell.value != "":
                filled.setdefault(r, {})[c] = cell.value
        row = file.header_row
        self.last = max((r for r in filled if r >= row), default=row)
        if filled.get(row):
            above = {r: cells for r, cells in filled.items() if r < row}
            ranges = [str(r) for r in self.sheet.merged_cells.ranges]
            self.header = resolve_header(self.where, row, filled[row], above, lambda: ranges)
        elif self.last > row:
            raise BadInput(
                f"{self.where}: row {row} is empty, but rows below it hold data; put the "
                "field names in that row, or set `header_row` to the row that has them"
            )
        else:
            self.header = Header(row)
            for name in fields_of(layout, changes):
                self._column(name, change=False)  # written only with a row
        self._filled = filled
        self._index: dict[Key, list[int]] | None = None

    def _text(self, row: int, column: int) -> str:
        cell = self.sheet._cells.get((row, column))
        value = None if cell is None else cell.value
        if isinstance(value, str):
            return unescape(value)
        shown = padded(value, padded_width(cell.number_format)) if cell is not None else None
        return shown or text_of(value)

    def find(self, key: Key) -> list[int]:
        if self._index is None:
            self._index = {}
            columns = [self._named(k) for k in self.keys]
            for row in sorted(r for r in self._filled if r > self.header.row):
                found = tuple(self._text(row, c) if c else "" for c in columns)
                if any(found):
                    self._index.setdefault(found, []).append(row)
            self._filled = {}  # no longer needed
        return [row for row in self._index.get(key, []) if row not in self.deleted]

    def cells(self, row: int) -> Cells:
        texts = {name: self._text(row, column) for column, name in self._names()}
        return {name: text for name, text in texts.items() if text}

    def put(self, row: int, final: Cells | None) -> None:
        """The row's cells set to `final` (only those that differ); None deletes it."""
        if final is None:
            self.deleted.add(row)
            self.changed = True
            return
        for name, text in final.items():
            column = self._named(name)
            if column is None:
                if not text:
                    continue
                column = self._column(name)
            if self._text(row, column) != text:
                self._write(row, column, text, self.sheet.cell(row, column).value)

    def append(self, final: Cells) -> None:
        row = self.last + 1
        if row > MAX_ROWS:
            raise WriteFailed(f"{self.where}: the sheet has Excel's {MAX_ROWS:,} rows: full")
        self.last = row
        for name, text in final.items():
            if not text:
                continue
            column = self._named(name) or self._column(name)
            above = self.sheet._cells.get((row - 1, column)) if row - 1 > self.header.row else None
            if above is not None and above.has_style:  # first: its format types the value
                self.sheet.cell(row, column)._style = copy(above._style)
            self._write(row, column, text, above.value if above is not None else None)
        if self._index is not None:
            key = tuple(final.get(k, "") for k in self.keys)
            self._index.setdefault(key, []).append(row)

    def _write(self, row: int, column: int, text: str, like: object) -> Any:
        cell = self.sheet.cell(row, column)
        typed: object = text
        if like is not None and not isinstance(like, str):
            typed = typed_like(text, like, padded_width(cell.number_format))
        if isinstance(typed, str):
            if typed:
                set_text(cell, typed)
            else:
                cell.value = None
        else:
            cell.value = typed
        self.changed = True
        return cell

    def _names(self) -> list[tuple[int, str]]:
        return [(column, self.header.names[at]) for column, at in self.header.columns.items()]

    def _named(self, name: str) -> int | None:
        return next((c for c, n in self._names() if n == name), None)

    def _column(self, name: str, *, change: bool = True) -> int:
        column = self.header.add(name)
        set_text(self.sheet.cell(self.header.row, column), name)
        self.changed = self.changed or change
        return column

    def finish(self) -> None:
        """Remove the deleted rows, bottom first, moving the rows below (and their merged
        cells) up."""
        for start, count in reversed(_runs(sorted(self.deleted))):
            self.sheet.delete_rows(start, count)
            for merged in list(self.sheet.merged_cells.ranges):
                if merged.min_row >= start + count:
                    merged.shift(0, -count)
                elif merged.max_row >= start:
                    self.sheet.merged_cells.remove(merged)


def _runs(rows: list[int]) -> list[tuple[int, int]]:
    """Sorted row numbers as (first, count) runs of consecutive rows."""
    runs: list[tuple[int, int]] = []
    for row in rows:
        if runs and runs[-1][0] + runs[-1][1] == row:
            runs[-1] = (runs[-1][0], runs[-1][1] + 1)
        else:
            runs.append((row, 1))
    return runs


def _sheet(book: Any, file: ExcelFile) -> Any:
    """The sheet named (its name's case ignored), else the first visible one; a sheet
    named but missing is added."""
    sheets = book.worksheets
    if file.sheet is None:
        return next((s for s in sheets if s.sheet_state == "visible"), sheets[0])
    name = file.sheet
    found = [s for s in sheets if s.title == name]
    found = found or [s for s in sheets if s.title.casefold() == name.casefold()]
    return found[0] if found else book.create_sheet(name)
