"""Excel workbooks (.xlsx): a sheet's header row names the fields, one row per object.

Reading streams: the sheet's XML is parsed in the worker thread a batch of rows at a
time (parts.py, read.py), so a long sheet is never held in memory. Writing applies a
whole batch to the sheet, in place or anew (`mode`), and renames the new workbook over
the old one (write.py); a run's batches are staged beside the workbook and written
together when the run ends (`stage`, `finish`: staging.py).
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Sequence
from functools import partial

from core.errors import BadInput, WriteFailed
from schemas.connections import ExcelConnection
from schemas.jobs import Endpoint, RowMark
from schemas.plan import Change
from schemas.values import Record

from ..base import Layout, Outcome
from ..cells import canonical_cells
from ..changes import FieldChanges, filtered, needs_field
from ..writable import cannot_create_in
from . import staging, write
from .connection import WRITABLE, Book, ExcelFile, Sheet, open_book
from .read import SheetReader

BYTES_PER_ROW = 40
"""About what a row of ten short texts takes in an .xlsx file, compressed."""


class ExcelProvider:
    """One sheet of a workbook in the connection's folder."""

    rereadable = True
    """Reading the sheet again is cheap: large plans read it twice (planning/low_memory.py)."""
    keys_fold = False
    """Keys compare with case: "Ann" and "ann" are two rows (base.py)."""

    def __init__(self, connection: ExcelConnection, endpoint: Endpoint, layout: Layout) -> None:
        self._file = ExcelFile(connection, endpoint)
        self._layout = layout
        self._mode = endpoint.mode or "update"
        self._mark = endpoint.mark or RowMark()
        self._write = False
        self._fields: list[str] | None = None
        self._changes: FieldChanges | None = None
        self._opened: Book | None = None
        """The workbook `open` checked, kept for the first read (its strings are parsed)."""

    async def size_hint(self) -> int:
        """About how many records the sheet holds (from the file's size)."""
        path = self._file.path
        return path.stat().st_size // BYTES_PER_ROW if path.exists() else 0

    async def open(self, *, write: bool) -> None:
        self._write = write
        await asyncio.to_thread(self._check, write)

    def _check(self, write: bool) -> None:
        path = self._file.path
        folder = path.parent
        if write and path.suffix.lower() not in WRITABLE:
            raise BadInput(
                f"{path}: idsync writes .xlsx workbooks only; name the destination's file "
                f"{path.stem}.xlsx"
            )
        if write and not folder.is_dir():
            raise WriteFailed(
                f"excel: folder {folder} does not exist; create it or fix `directory`"
            )
        if write and (why := cannot_create_in(folder)) is not None:
            raise WriteFailed(
                f"excel: cannot write to folder {folder} ({why}); check its permissions"
            )
        if not path.exists() and not write:
            raise BadInput(f"{path}: file not found; check `directory` and `file`")
        if not path.exists():
            return
        book = open_book(path)
        kept = False
        try:
            sheet = self._sheet(book)
            if write and self._mode == "replace":
                charts = [s.title for s in book.sheets if s.part is None]
                if charts:
                    raise BadInput(
                        f'{path}: mode = "replace" writes the workbook anew and would lose '
                        f"its chart sheet {charts[0]!r}; use the default mode (update)"
                    )
            if sheet is not None:  # learn (and check) the header now
                reader = SheetReader(self._file, book, sheet, self._layout, source=not write)
                reader.close()
                self._fields = reader.header.names if reader.header is not None else None
            self._opened, kept = book, True  # the first read goes on with it
        finally:
            if not kept:
                book.close()

    def _sheet(self, book: Book) -> Sheet | None:
        """The side's sheet; None for a destination's sheet not there yet."""
        sheet = book.pick(self._file.sheet)
        if sheet is None and not self._write:
            if self._file.sheet is not None:
                raise book.missing(self._file.sheet)
            raise BadInput(f"{book.path}: no sheet of cells (only charts); nothing to read")
        return sheet

    def source_fields(self) -> list[str] | None:
        """The header's field names (after `open`); None for a sheet not there yet."""
        return self._fields

    async def read(self, batch_size: int) -> AsyncIterator[list[Record]]:
        path = self._file.path
        if await asyncio.to_thread(staging.pending, path):  # read what they leave
            await self.close()
            await asyncio.to_thread(staging.finish, path)
        book, self._opened = self._opened, None
        if book is None and not path.exists():
            if self._write:
                return
            raise BadInput(f"{path}: file not found; check `directory` and `file`")
        if book is None:
            book = await asyncio.to_thread(open_book, path)
        try:
            sheet = self._sheet(book)
            if sheet is None:
                return
            reader = await asyncio.to_thread(
                partial(SheetReader, whole=self._write and self._mode == "replace"),
                self._file,
                book,
                sheet,
                self._layout,
                source=not self._write,
            )
            try:
                while batch := await asyncio.to_thread(reader.take, batch_size):
                    yield batch
            finally:
                reader.close()
        finally:
            book.close()

    async def places(self, records: Sequence[Record]) -> list[str | None]:
        """Each record's row (`base.Places`)."""
        return await asyncio.to_thread(self._places, records)

    def _places(self, records: Sequence[Record]) -> list[str | None]:
        path = self._file.path
        if not path.exists():
            return [None] * len(records)
        book = open_book(path)
        try:
            sheet = book.pick(self._file.sheet)
            if sheet is None:
                return [None] * len(records)
            reader = SheetReader(self._file, book, sheet, self._layout, source=True)
            name = self._file.name
            if self._file.sheet is not None:
                name += f", sheet {sheet.title!r}"
            try:
                return reader.places(records, name)
            finally:
                reader.close()
        finally:
            book.close()

    def read_changed(
        self, batch_size: int, since: str | None, field: str | None
    ) -> AsyncIterator[list[Record]]:
        """A sheet has no index: every row is read, and only the changed ones kept."""
        self._changes = FieldChanges(needs_field("excel", field), since)
        return filtered(self.read(batch_size), self._changes)

    def watermark(self) -> str | None:
        return self._changes.watermark() if self._changes else None

    def fell_back(self) -> str | None:
        return self._changes.fell_back() if self._changes else None

    def change_warnings(self) -> list[str]:
        return self._changes.warnings if self._changes else []

    def canonical(self, record: Record) -> Record:
        return canonical_cells(self._layout, record)

    async def apply(self, changes: list[Change]) -> list[Outcome]:
        if not changes:
            return []
        await self.close()  # a workbook kept from before the write would read stale
        return await asyncio.to_thread(
            write.apply, self._file, self._layout, self._mode, self._mark, changes
        )

    async def stage(self, changes: list[Change]) -> list[Outcome]:
        """Stage the batch beside the workbook, durably, for `finish` to write."""
        if not changes:
            return []
        await self.close()
        return await asyncio.to_thread(
            staging.stage, self._file, self._layout, self._mode, self._mark, changes
        )

    async def finish(self) -> None:
        """Write the staged batches into the workbook, in one rewrite."""
        await self.close()
        await asyncio.to_thread(staging.finish, self._file.path)

    async def close(self) -> None:
        if self._opened is not None:
            self._opened.close()
            self._opened = None
