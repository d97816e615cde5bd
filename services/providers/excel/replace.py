"""`mode = "replace"`: the sheet is written anew, streaming, with openpyxl's write-only
workbook — its rows read one at a time from the old workbook, each key's changes
settled on the way (rows.py), the new rows after the others. Memory stays flat however
long the sheet. The sheet keeps its values (and their types), not its formatting or
formulas (a formula's saved value is written); the workbook's other sheets are copied
cell by cell, values and formulas, without their formatting."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator, Sequence
from typing import Any

from openpyxl import Workbook, load_workbook
from openpyxl.cell import WriteOnlyCell

from core.errors import BadInput, WriteFailed

from ..base import Layout
from .connection import Book, ExcelFile, Sheet, guarded, open_book
from .inplace import MAX_ROWS
from .parts import Unsaved
from .read import Header, SheetReader
from .rows import Cells, Key, Prepared, by_batch, by_key, fields_of, fields_set, settle
from .values import escape, text_of, typed_like
from .write import Errors, looks_typed, save_atomically


def rewrite(file: ExcelFile, layout: Layout, changes: list[Prepared]) -> Errors:
    """Write the sheet anew with the changes applied; the errors of those not applied."""
    book = open_book(file.path) if file.path.exists() else None
    sheet: Target | None = None
    out: Any = None
    try:
        target = book.pick(file.sheet) if book is not None else None
        if book is not None and (charts := [s.title for s in book.sheets if s.part is None]):
            raise BadInput(
                f'{file.path}: mode = "replace" writes the workbook anew and would lose its '
                f"chart sheet {charts[0]!r}; use the default mode (update), or keep the sheet "
                "idsync writes in a workbook of its own"
            )
        out = Workbook(write_only=True)
        sheet = Target(file, layout, book, target, changes)
        for other in book.sheets if book is not None else []:
            if other == target:
                sheet.write(out)
            else:
                _copy(out, file, other)
        if target is None:
            sheet.write(out)
        if sheet.changed:
            save_atomically(file.path, out.save)
        else:
            _discard(out)
        return sheet.errors
    except BaseException:
        if out is not None:
            _discard(out)
        raise
    finally:
        if sheet is not None and sheet.reader is not None:
            sheet.reader.close()
        if book is not None:
            book.close()


class Target:
    """The sheet idsync writes, streamed from the old one through the changes."""

    def __init__(
        self,
        file: ExcelFile,
        layout: Layout,
        book: Book | None,
        sheet: Sheet | None,
        changes: list[Prepared],
    ) -> None:
        self.file = file
        self.title = sheet.title if sheet is not None else file.sheet or "Sheet1"
        self.state = sheet.state if sheet is not None else "visible"
        self.reader = (
            SheetReader(file, book, sheet, layout, source=False)
            if book is not None and sheet is not None
            else None
        )
        found = self.reader.header if self.reader is not None else None
        self.header = found or Header(file.header_row)
        for name in fields_set(changes) if found is not None else fields_of(layout, changes):
            if name not in self.header.names:
                self.header.add(name)
        self.keys = layout.keys or (tuple(changes[0].match) if changes else ())
        self.groups = by_key(changes)
        self.errors: Errors = {}
        self.changed = False

    def write(self, out: Any) -> None:
        ws = out.create_sheet(self.title)
        if self.state != "visible":
            ws.sheet_state = self.state
        above = self.reader.above if self.reader is not None else {}
        for row in range(1, self.header.row):
            cells = above.get(row, {})
            ws.append([_value(ws, cells.get(c)) for c in range(1, max(cells, default=0) + 1)])
        names = self.header.names
        ws.append([_cell(ws, name) for name in names])
        count = self.header.row
        for values in self._rows():
            count += 1
            if count > MAX_ROWS:
                raise WriteFailed(
                    f"{self.file.where(self.title)}: more than Excel's {MAX_ROWS:,} rows"
                )
            ws.append([_value(ws, values.get(name)) for name in names])

    def _rows(self) -> Iterator[dict[str, object]]:
        """The rows of the new sheet, as values by field."""
        seen: set[Key] = set()
        for raw in self._old():
            key = tuple(text_of(raw.get(k)) for k in self.keys)
            group = self.groups.get(key)
            if group is None:
                yield raw
                continue
            row: dict[str, object] | None = raw
            errors: list[str | None] = []
            for part in by_batch(group):
                texts = None if row is None else {n: text_of(v) for n, v in row.items()}
                final, found = settle(texts, part)
                errors += found
                row = None if final is None else _typed(final, row if row is not None else {})
            if key not in seen:
                seen.add(key)
                self._note(group, errors)
            if row is not None:
                yield row
        for key, group in self.groups.items():
            if key not in seen:
                final, errors = settle(None, group)
                self._note(group, errors)
                if final is not None:
                    yield dict(final)

    def _old(self) -> Iterator[dict[str, object]]:
        reader = self.reader
        if reader is None or reader.header is None:
            return
        names, columns = reader.header.names, reader.header.columns
        while (found := reader.next_row()) is not None:
            number, cells = found
            raw: dict[str, object] = {}
            for column, value in cells.items():
                at = columns.get(column)
                if at is None:
                    raise reader.unnamed(number, column)
                if type(value) is Unsaved:  # its value is what this mode writes: none
                    raise reader.unsaved(value)
                raw[names[at]] = value
            if raw:
                yield raw

    def _note(self, group: Sequence[Prepared], errors: list[str | None]) -> None:
        for change, error in zip(group, errors, strict=True):
            if error is None:
                self.changed = True
            else:
                self.errors[change.at] = error


def _typed(final: Cells, old: dict[str, object]) -> dict[str, object]:
    """The settled texts, each as the type of the value it replaces where it reads back
    the same (values.typed_like)."""
    typed: dict[str, object] = {}
    for name, text in final.items():
        before = old.get(name)
        if before is not None and not isinstance(before, str) and text_of(before) == text:
            typed[name] = before
        elif before is not None and not isinstance(before, str) and text:
            typed[name] = typed_like(text, before)
        else:
            typed[name] = text
    return typed


def _value(ws: Any, value: object) -> object:
    if isinstance(value, str):
        return _cell(ws, value) if value else None
    return value


def _cell(ws: Any, text: str) -> object:
    """Text for a write-only row: a text cell when openpyxl would take it for a formula or
    an error, else the (escaped) text itself, which it writes as text."""
    if not looks_typed(text):
        return escape(text)
    cell = WriteOnlyCell(ws, value=escape(text))
    cell.data_type = "s"
    cell.quotePrefix = True
    return cell


def _copy(out: Any, file: ExcelFile, sheet: Sheet) -> None:
    """Another sheet of the workbook, copied cell by cell: values, formulas and number
    formats."""
    with file.path.open("rb") as raw, guarded(file.path):
        book = load_workbook(raw, read_only=True, data_only=False, keep_links=False)
        try:
            source = book[sheet.title]
            ws = out.create_sheet(sheet.title)
            if sheet.state != "visible":
                ws.sheet_state = sheet.state
            for row in source.iter_rows():
                ws.append([_copied(ws, cell) for cell in row])
        finally:
            book.close()


def _copied(ws: Any, cell: Any) -> object:
    if cell.value is None:
        return None
    copied = WriteOnlyCell(ws, value=cell.value)
    copied.data_type = cell.data_type
    copied.number_format = cell.number_format
    return copied


def _discard(out: Any) -> None:
    """Drop a write-only workbook not saved: its sheets' temporary files go."""
    for ws in out.worksheets:
        writer = getattr(ws, "_writer", None)
        if writer is None or getattr(ws, "closed", False):
            continue
        with contextlib.suppress(Exception):
            if ws._rows is not None:
                ws._rows.close()
            writer.close()
            writer.cleanup()
