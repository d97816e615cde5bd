"""Reading a sheet: its header row checked, then its rows as records a batch at a time.

The header row names the fields. A header cell that is part of a merged cell is named
by it when the merge comes from above (a two-row header); columns a merge spans to the
right have no name of their own, and a value under them is an error, as is a value
under no name at all. So is a merged cell among the data rows (its value saved in its
first cell only), and the header row again. Empty rows, and empty columns after the last
name, are no data.
"""

from __future__ import annotations

from collections.abc import Callable, Generator, Iterator, Sequence
from dataclasses import dataclass, field

from openpyxl.utils.cell import range_boundaries

from core.errors import BadInput
from schemas.values import Record, record_from_cells

from ..base import Layout
from .connection import Book, ExcelFile, Sheet
from .parts import CellError, Row, Unsaved, letters, merged_ranges
from .values import text_of


@dataclass
class Header:
    """The fields a sheet's header row names, and where."""

    row: int
    names: list[str] = field(default_factory=list)
    columns: dict[int, int] = field(default_factory=dict)
    """Column number → index in `names`."""
    covered: dict[int, str] = field(default_factory=dict)
    """Column number → the merged header cell that spans it, giving it no name."""

    def column_of(self, name: str) -> int:
        return next(c for c, i in self.columns.items() if self.names[i] == name)

    def add(self, name: str) -> int:
        """A new field, in the first column after every other; its column."""
        used = [*self.columns, *self.covered]
        column = max(used, default=0) + 1
        self.columns[column] = len(self.names)
        self.names.append(name)
        return column


def resolve_header(
    where: str,
    row: int,
    cells: dict[int, object],
    above: dict[int, dict[int, object]],
    merged: Callable[[], list[str]],
) -> Header:
    """The header of the cells of row `row`; `above` the rows over it, `merged` the sheet's
    merged ranges (asked for only when a header cell is empty, or a row above names a
    column right of the last name here)."""
    texts = {column: text_of(value) for column, value in cells.items()}
    last = max((c for c, text in texts.items() if text), default=0)
    header = Header(row)
    gaps = [c for c in range(1, last + 1) if not texts.get(c)]
    # A name above the row, right of its last one, may be merged down into it (a two-row
    # header's last columns): those columns are named too.
    later = any(
        c > last and text_of(v) for cells_above in above.values() for c, v in cells_above.items()
    )
    spans = _spans(merged(), row) if gaps or later else {}
    for column, (top, left, _) in spans.items():
        if column > last and left == column and top < row:
            last = column if text_of(above.get(top, {}).get(left, "")) else last
    seen: dict[str, int] = {}
    for column in range(1, last + 1):
        name = texts.get(column, "")
        span = spans.get(column)
        if not name and span is not None:
            top, left, ref = span
            if left != column:
                header.covered[column] = ref
                continue
            name = text_of(above.get(top, {}).get(left, ""))
        if not name:
            raise BadInput(
                f"{where}, cell {letters(column)}{row}: column {letters(column)} of the header "
                "has no name; name it, or delete the column"
            )
        if name in seen:
            first = f"{letters(seen[name])}{row}"
            raise BadInput(
                f"{where}: the header names {name!r} twice (cells {first} and "
                f"{letters(column)}{row}); column names must be unique: rename one"
            )
        seen[name] = column
        header.columns[column] = len(header.names)
        header.names.append(name)
    return header


def _spans(ranges: list[str], row: int) -> dict[int, tuple[int, int, str]]:
    """Column → (top row, left column, range) of each merged range over `row`."""
    spans: dict[int, tuple[int, int, str]] = {}
    for ref in ranges:
        left, top, right, bottom = range_boundaries(ref)
        if left is None or top is None or right is None or bottom is None:
            continue
        if top <= row <= bottom:
            for column in range(left, right + 1):
                spans[column] = (top, left, ref)
    return spans


class SheetReader:
    """A sheet's header (read when made) and then its records."""

    def __init__(
        self,
        file: ExcelFile,
        book: Book,
        sheet: Sheet,
        layout: Layout,
        *,
        source: bool,
        whole: bool = False,
    ) -> None:
        self.where = file.where(sheet.title)
        self._merges: list[str] = []
        """The sheet's merged ranges, once its rows are read through."""
        self._rows: Generator[Row, None, None] = self._guarded(
            book.rows(sheet, strict_from=file.header_row, merged=self._merges)
        )
        self._layout = layout
        self._source = source
        self._whole = whole
        """Every cell's value is needed: a destination written anew (`mode = "replace"`)."""
        self._delimiters: list[str | None] = []
        """Each field's multi-valued delimiter (None: single-valued), once known."""
        row = file.header_row
        above: dict[int, dict[int, object]] = {}
        first: Row | None = None
        for number, cells in self._rows:
            if number < row:
                above[number] = cells
                continue
            first = (number, cells)
            break
        self.above = above
        """The rows over the header (a title), as parsed."""
        self.header: Header | None = None
        self._pending: Row | None = None
        self._merged: Callable[[], list[str]] = lambda: _merged(book, sheet)
        if first is not None and first[0] == row and first[1]:
            for value in first[1].values():
                if type(value) is Unsaved:
                    raise self.unsaved(value)
            self.header = resolve_header(self.where, row, first[1], above, self._merged)
        elif first is not None and first[0] != row:
            self._pending = first
        elif first is not None:  # an empty header row: rows below it would be data unnamed
            self._pending = next(self._rows, None)
        if self.header is None and (source or self._pending is not None):
            what = "the sheet has no rows" if first is None else f"row {row} is empty"
            raise BadInput(
                f"{self.where}: {what}, but row {row} must name the fields; put the names "
                "there, or set `header_row` to the row that has them"
            )

    def close(self) -> None:
        """Stop reading (before the book is closed)."""
        self._rows.close()

    def _guarded(self, rows: Iterator[Row]) -> Generator[Row, None, None]:
        """The rows as a generator, which `close` stops."""
        yield from rows

    def unsaved(self, value: Unsaved) -> BadInput:
        """The error for a formula without a saved value where the job needs its value."""
        formula = f" ={value.formula}" if value.formula else ""
        return BadInput(
            f"{self.where}, cell {value.coordinate}: the formula{formula} has no saved value "
            "(the program that wrote the workbook did not calculate it); open the "
            "workbook in Excel or LibreOffice and save it, so every formula's value is "
            "stored: idsync reads that value and does not calculate formulas"
        )

    def next_row(self) -> Row | None:
        """The next row after the header, as parsed (None at the end of the sheet)."""
        if self._pending is not None:
            pending, self._pending = self._pending, None
            return pending
        found = next(self._rows, None)
        if found is None and self.header is not None:
            self._check_merges(self.header)
        return found

    def _check_merges(self, header: Header) -> None:
        """Refuse a merged cell over the data rows: Excel shows its value on every row
        (and column) it spans, but saves it in its first cell only; the others, read
        empty, would clear the value of each object but the first."""
        for ref in self._merges:
            left, top, right, bottom = range_boundaries(ref)
            if left is None or top is None or right is None or bottom is None:
                continue
            covered = [
                (row, column)
                for row in range(max(top, header.row + 1), bottom + 1)
                for column in range(left, right + 1)
                if (row, column) != (top, left) and column in header.columns
            ]
            if covered:
                (r1, c1), (r2, c2) = covered[0], covered[-1]
                cells = f"{letters(c1)}{r1}" + (f":{letters(c2)}{r2}" if len(covered) > 1 else "")
                raise BadInput(
                    f"{self.where}, cells {cells}: part of the merged cell {ref}, whose value "
                    f"Excel shows on each of its rows but saves in {letters(left)}{top} only; "
                    "read as they are saved, they would be empty and clear that value for "
                    "every row but the first: unmerge the cells and fill each row's value"
                )

    def take(self, count: int) -> list[Record]:
        """The next `count` records (fewer at the end of the sheet)."""
        if self.header is None:
            return []
        batch: list[Record] = []
        while len(batch) < count:
            found = self.next_row()
            if found is None:
                break
            record = self._record(*found)
            if record:
                batch.append(record)
        return batch

    def _record(self, number: int, cells: dict[int, object]) -> Record:
        """The record of row `number`, its cells as parsed."""
        header = self.header
        assert header is not None
        names, columns = header.names, header.columns
        if len(self._delimiters) != len(names):
            self._delimiters = [self._layout.multi_valued.get(name) for name in names]
        values: list[str | None] = [None] * len(names)
        for column, value in cells.items():
            at = columns.get(column)
            if at is None:
                raise self.unnamed(number, column)
            if type(value) is str:
                values[at] = value
            elif type(value) is CellError and self._failing(names[at]):
                raise self.failed(number, column, value)
            elif type(value) is Unsaved:
                if self._needed(names[at]):
                    raise self.unsaved(value)
            else:
                values[at] = text_of(value)
        if values == names:
            raise BadInput(
                f"{self.where}, row {number}: the header row again ({', '.join(names)}): "
                "the sheet holds two exports joined; delete the repeated header row (or "
                "split the sheet) and run again: read as a record, it would be an object "
                "keyed by the key column's name"
            )
        return record_from_cells(names, values, self._delimiters)

    def places(self, records: Sequence[Record], name: str) -> list[str | None]:
        """The row of each record ("hr.xlsx, row 12"; `name`: the workbook's), as
        `base.Places` says: each looked for after the row of the one before."""
        found: list[str | None] = []
        for record in records:
            place = None
            while self.header is not None and (row := self.next_row()) is not None:
                if self._record(*row) == record:
                    place = f"{name}, row {row[0]}"
                    break
            found.append(place)
        return found

    def _failing(self, name: str) -> bool:
        """Whether an error in the field fails the read: in a source, a field the job
        reads (every one, when it copies every field); in a destination, a key."""
        if not self._source:
            return name in self._layout.keys
        reads = self._layout.reads
        return not reads or name in reads

    def _needed(self, name: str) -> bool:
        """Whether the job needs the field's value: in a source, a field the job reads; in
        a destination, a key or a field the job writes (every one, when it maps none, or
        when `mode = "replace"` writes each cell's value anew). A
        formula elsewhere, without its value, is no value: openpyxl saves none (a workbook
        idsync itself wrote in `mode = "update"`), and the job never compares it."""
        if self._source:
            return self._failing(name)
        fields = self._layout.fields
        if self._whole:
            return True
        return name in self._layout.keys or not fields or name in fields

    def failed(self, row: int, column: int, value: str) -> BadInput:
        """The error for a cell holding an error where it cannot be read as text: a key
        so read would stand for no object, and the one its row stands for look absent."""
        return BadInput(
            f"{self.where}, cell {letters(column)}{row}: the cell holds the error {value} "
            "(its formula failed); correct it in the workbook: a value that failed is "
            "not read as text (a key read so would leave its object looking absent)"
        )

    def unnamed(self, row: int, column: int) -> BadInput:
        """The error for a value in a column the header does not name."""
        header = self.header
        assert header is not None
        cell = f"{self.where}, cell {letters(column)}{row}"
        merge = header.covered.get(column)
        if merge is None and column not in header.columns:
            spans = _spans(self._merged(), header.row)  # a merge after the last name
            merge = spans[column][2] if column in spans else None
        if merge is not None:
            why = (
                f"whose header cell is part of the merged cell {merge}; unmerge it so that "
                f"column {letters(column)} has a name of its own"
            )
        else:
            why = f"which has no name in the header (row {header.row}); name the column"
        return BadInput(f"{cell}: a value in column {letters(column)}, {why}, or clear the cell")


def _merged(book: Book, sheet: Sheet) -> list[str]:
    assert sheet.part is not None
    with book.archive.open(sheet.part) as source:
        return merged_ranges(source)
