"""CSV / delimited text files: the header row names the fields, one row per object.

Reading streams: the file is parsed in the worker thread a batch at a time, so a
large export is never held in memory and a broken row is reported (with its line)
only when the read reaches it (read.py). Writing loads the file, applies the whole
batch in memory and replaces the file atomically, so a crash never leaves half a file
(write.py).
"""

from __future__ import annotations

import asyncio
import itertools
import operator
import os
from collections.abc import AsyncIterator, Callable, Sequence, Sized
from pathlib import Path
from typing import IO, TYPE_CHECKING, TypeVar

from core.errors import BadInput, Transient, WriteFailed
from schemas.connections import CsvConnection
from schemas.jobs import Endpoint
from schemas.plan import Change
from schemas.values import Record, TextRows

from ..base import Layout, Outcome
from ..changes import FieldChanges, needs_field
from ..writable import cannot_create_in
from . import write
from .connection import CsvFile
from .read import RowFilter, header, places, take, take_rows
from .values import canonical_cells

if TYPE_CHECKING:
    from _csv import Reader


B = TypeVar("B", bound=Sized)
Taking = Callable[[CsvFile, "Reader", list[str], int, Layout, RowFilter | None], tuple[bool, B]]
"""How a batch of rows is taken from the parser (read.py): as records, or as rows."""


def _version(f: IO[str]) -> tuple[int, int]:
    """The size and modification time of the open file: another program writing it in
    place (an export rewriting it) changes them; one that replaces it (a rename) leaves
    the file this read has open as it was."""
    found = os.fstat(f.fileno())
    return found.st_size, found.st_mtime_ns


def _moved(f: IO[str], before: tuple[int, int], path: Path) -> bool:
    """Whether the file read is no longer as it was when the read began (written in
    place), or its path now names another file (replaced): an error met reading it may
    be of the change, and the line it names (read again from the path) another file's."""
    if _version(f) != before:
        return True
    try:
        now = path.stat()
    except OSError:
        return True
    held = os.fstat(f.fileno())
    return (now.st_dev, now.st_ino) != (held.st_dev, held.st_ino)


class CsvProvider:
    """One delimited text file in the connection's folder."""

    rereadable = True
    """Reading the file again is cheap: large plans read it twice (planning/low_memory.py)."""
    keys_fold = False
    """Keys compare with case: "Ann" and "ann" are two rows (base.py)."""

    async def size_hint(self) -> int:
        """About how many records the file holds (its size at ~100 bytes a row)."""
        path = self._file.path
        return path.stat().st_size // 100 if path.exists() else 0

    def __init__(self, connection: CsvConnection, endpoint: Endpoint, layout: Layout) -> None:
        self._file = CsvFile(connection, endpoint)
        self._path = self._file.path
        self._layout = layout
        self._write = False
        self._changes: FieldChanges | None = None
        self._fields: list[str] | None = None

    async def open(self, *, write: bool) -> None:
        self._write = write
        await asyncio.to_thread(self._check, write)

    def _check(self, write: bool) -> None:
        folder = self._path.parent
        if write and not folder.is_dir():
            raise WriteFailed(f"csv: folder {folder} does not exist; create it or fix `directory`")
        if self._path.is_dir():
            raise BadInput(f"csv: {self._path} is a folder, not a file")
        if write and (why := cannot_create_in(folder)) is not None:
            raise WriteFailed(
                f"csv: cannot write to folder {folder} ({why}); check its permissions"
            )
        if not self._path.exists():
            if not write:
                raise BadInput(f"{self._path}: file not found; check `directory` and `file`")
            return
        self._file.check_start()
        with self._file.open_text() as f:  # learn (and validate) the header now
            self._fields = header(self._file, self._file.rows(f), source=not write)

    def source_fields(self) -> list[str] | None:
        """The header's field names (after `open`); None for a file not there yet."""
        return self._fields

    def fields_from(self) -> str:
        """Where `source_fields` come from, as an error about them names it."""
        return f"the header of {self._path}"

    async def read(self, batch_size: int) -> AsyncIterator[list[Record]]:
        async for batch in self._read(batch_size, None, take):
            yield batch

    async def read_rows(self, batch_size: int) -> AsyncIterator[TextRows]:
        """`read`'s batches as the rows read, not made into records (`ReadsRows`)."""
        async for batch in self._read(batch_size, None, take_rows):
            yield batch

    async def _read(
        self, batch_size: int, changes: FieldChanges | None, taking: Taking[B]
    ) -> AsyncIterator[B]:
        """The file's records, only the changed ones with `changes` (batches left empty
        by it dropped), each batch as `taking` takes it (records, or rows)."""
        if not self._path.exists():
            if self._write:
                return
            raise BadInput(f"{self._path}: file not found; check `directory` and `file`")
        file = self._file
        f = await asyncio.to_thread(file.open_text)
        try:
            before = _version(f)
            reader = file.reader(f)
            rows = file.numbered(reader)
            names = await asyncio.to_thread(header, file, rows, source=not self._write)
            if not self._write and self._fields is not None and names != self._fields:
                raise Transient(
                    f"{self._path}: the header changed since the file was opened (it named "
                    f"{', '.join(self._fields)}; now {', '.join(names or [])}): the file "
                    "was replaced while the run began; it is tried again"
                )
            keep = None if changes is None else self._changed(names or [], changes)
            while True:
                try:
                    more, batch = await asyncio.to_thread(
                        taking, file, reader, names or [], batch_size, self._layout, keep
                    )
                except BadInput as error:
                    if not await asyncio.to_thread(_moved, f, before, self._path):
                        raise
                    raise Transient(
                        f"{self._path}: the file changed while it was read ({error}): "
                        "the run is tried again"
                    ) from error
                if not more:
                    break
                if batch:
                    yield batch
            if _version(f) != before:
                raise Transient(
                    f"{self._path}: the file changed while it was read (written in place by "
                    "another program); the rows read may be part of it only, and the others "
                    "would be taken for absent: the run is tried again"
                )
        finally:
            f.close()

    async def places(self, records: Sequence[Record]) -> list[str | None]:
        """Each record's line (`base.Places`)."""
        if not self._path.exists():
            return [None] * len(records)
        return await asyncio.to_thread(places, self._file, self._layout, records)

    def _changed(self, names: list[str], changes: FieldChanges) -> RowFilter:
        """The rows whose change field `changes` keeps, tested on the cell itself (no
        record made of the others); a row without that column is kept, as a record
        without a value is."""
        field = changes.field
        if field not in names or field in self._layout.multi_valued:
            return lambda rows: rows
        value = operator.itemgetter(names.index(field))

        def kept(rows: list[list[str]]) -> list[list[str]]:
            return list(
                itertools.compress(rows, changes.wanted_values(list(map(value, rows)), rows))
            )

        return kept

    def read_changed(
        self, batch_size: int, since: str | None, field: str | None
    ) -> AsyncIterator[list[Record]]:
        """A file has no index: every row is parsed, and only the changed ones kept."""
        self._changes = FieldChanges(needs_field("csv", field), since)
        return self._read(batch_size, self._changes, take)

    def watermark(self) -> str | None:
        return self._changes.watermark() if self._changes else None

    def fell_back(self) -> str | None:
        return self._changes.fell_back() if self._changes else None

    def change_warnings(self) -> list[str]:
        return self._changes.warnings if self._changes else []

    def canonical(self, record: Record) -> Record:
        return canonical_cells(self._layout, record)

    async def apply(self, changes: list[Change]) -> list[Outcome]:
        return await asyncio.to_thread(write.apply, self._file, self._layout, changes)

    async def close(self) -> None:
        return None
