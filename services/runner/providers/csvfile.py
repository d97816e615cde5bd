"""CSV / delimited text files: the header row names the fields, one row per object.

Reading streams: the file is parsed in the worker thread a batch at a time, so a
large export is never held in memory and a broken row is reported (with its line)
only when the read reaches it. Writing loads the file, applies the whole batch in
memory and replaces the file atomically, so a crash never leaves half a file.
"""

from __future__ import annotations

import asyncio
import codecs
import csv
import itertools
import os
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import IO

from core.errors import BadInput, WriteFailed
from schemas.connections import CsvConnection
from schemas.jobs import Endpoint
from schemas.plan import Change
from schemas.values import Record, Value, as_text, normalize, record_from_cells, split_text

from .base import Layout, Outcome
from .changes import FieldChanges, filtered, needs_field
from .csv_quotes import UNCLOSED, unclosed_quote_line
from .writable import cannot_create_in

LIST_JOINER = ";"
"""Joins a list written to a field the layout does not declare multi-valued."""

Row = dict[str, str]


class CsvProvider:
    """One delimited text file in the connection's folder."""

    rereadable = True
    """Reading the file again is cheap: large plans read it twice (planning/low_memory.py)."""

    async def size_hint(self) -> int:
        """About how many records the file holds (its size at ~100 bytes a row)."""
        return self._path.stat().st_size // 100 if self._path.exists() else 0

    def __init__(self, connection: CsvConnection, endpoint: Endpoint, layout: Layout) -> None:
        if not endpoint.file:
            raise BadInput("csv: the endpoint names no file; add `file: <name>.csv`")
        self._path = Path(connection.directory) / endpoint.file
        self._layout = layout
        self._delimiter = _pick(endpoint.delimiter, connection.delimiter, "delimiter")
        self._quote = _pick(endpoint.quote_char, connection.quote_char, "quote_char")
        if self._delimiter == self._quote:
            raise BadInput(f"csv: delimiter and quote_char are both {self._quote!r}")
        self._encoding = endpoint.encoding or connection.encoding
        try:
            codec = codecs.lookup(self._encoding).name
        except LookupError:
            raise BadInput(f"csv: unknown encoding {self._encoding!r} for {self._path}") from None
        # utf-8 files saved by Excel start with a BOM: utf-8-sig reads both spellings.
        self._read_encoding = "utf-8-sig" if codec == "utf-8" else self._encoding
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
        with self._open_text() as f:  # learn (and validate) the header now
            self._fields = self._header(_rows(self, f), source=not write)

    def source_fields(self) -> list[str] | None:
        """The header's field names (after `open`); None for a file not there yet."""
        return self._fields

    async def read(self, batch_size: int) -> AsyncIterator[list[Record]]:
        if not self._path.exists():
            if self._write:
                return
            raise BadInput(f"{self._path}: file not found; check `directory` and `file`")
        f = await asyncio.to_thread(self._open_text)
        try:
            rows = _rows(self, f)
            header = await asyncio.to_thread(self._header, rows, source=not self._write)
            while batch := await asyncio.to_thread(self._take, rows, header or [], batch_size):
                yield batch
        finally:
            f.close()

    def read_changed(
        self, batch_size: int, since: str | None, field: str | None
    ) -> AsyncIterator[list[Record]]:
        """A file has no index: every row is parsed, and only the changed ones kept."""
        self._changes = FieldChanges(needs_field("csv", field), since)
        return filtered(self.read(batch_size), self._changes)

    def watermark(self) -> str | None:
        return self._changes.watermark() if self._changes else None

    def canonical(self, record: Record) -> Record:
        multi = self._layout.multi_valued
        if all(type(v) is str and name not in multi for name, v in record.items()):
            # Text a single column holds reads back as it is: only empties drop out. The
            # common case, for every source record a plan maps.
            return {name: v for name, v in record.items() if v}
        return normalize(
            {name: split_text(self._cell(name, v), multi.get(name)) for name, v in record.items()}
        )

    async def apply(self, changes: list[Change]) -> list[Outcome]:
        return await asyncio.to_thread(self._apply, changes)

    async def close(self) -> None:
        return None

    # Reading.

    def _open_text(self) -> IO[str]:
        return self._path.open(encoding=self._read_encoding, newline="")

    def _unclosed_quote(self, row_line: int) -> BadInput:
        """The error for a file that ends inside a quoted value, naming the quote's line."""
        with self._open_text() as f:
            rest = itertools.islice(f, row_line - 1, None)
            line = unclosed_quote_line(rest, row_line, self._delimiter, self._quote)
        return BadInput(
            f"{self._path}: unclosed quote starting at line {line}: the file ends inside "
            f"the value it opens (close it with {self._quote}, or write {self._quote * 2} "
            "for a quote inside a value)"
        )

    def _header(self, rows: Iterator[tuple[int, list[str]]], *, source: bool) -> list[str] | None:
        """The validated header row; None for an empty file (an empty destination)."""
        first = next(rows, None)
        if first is None:
            if source:
                raise BadInput(
                    f"{self._path}: the file is empty; a header row must name the fields"
                )
            return None
        line, header = first
        seen: dict[str, int] = {}
        for column, name in enumerate(header, 1):
            if not name:
                raise BadInput(f"{self._path}:{line}: column {column} of the header has no name")
            if name in seen:
                raise BadInput(
                    f"{self._path}:{line}: the header names {name!r} twice "
                    f"(columns {seen[name]} and {column}); column names must be unique"
                )
            seen[name] = column
        return header

    def _take(
        self, rows: Iterator[tuple[int, list[str]]], header: list[str], n: int
    ) -> list[Record]:
        delimiters = [self._layout.multi_valued.get(name) for name in header]
        width = len(header)
        batch: list[Record] = []
        for line, row in itertools.islice(rows, n):
            if len(row) != width:
                self._check_width(line, row, header)
            batch.append(record_from_cells(header, row, delimiters))
        return batch

    def _check_width(self, line: int, row: list[str], header: list[str]) -> None:
        if len(row) != len(header):
            raise BadInput(f"{self._path}:{line}: {len(row)} fields, the header has {len(header)}")

    def _bad_encoding(self) -> BadInput:
        """The error for undecodable bytes, naming the first bad line (counted exactly)."""
        decoder = codecs.getincrementaldecoder(self._read_encoding)()
        line = 1
        with self._path.open("rb") as f:
            for chunk in f:
                try:
                    line += decoder.decode(chunk).count("\n")
                except UnicodeDecodeError:
                    break
        return BadInput(
            f"{self._path}: not valid {self._encoding} near line {line}; "
            f"save the file as {self._encoding} or set the endpoint's `encoding`"
        )

    # Writing.

    def _cell(self, name: str, value: Value) -> str:
        return as_text(value, self._layout.multi_valued.get(name, LIST_JOINER))

    def _apply(self, changes: list[Change]) -> list[Outcome]:
        table = _Table.load(self)
        outcomes = [self._apply_one(table, change) for change in changes]
        if table.changed:
            self._replace(table)
        return outcomes

    def _apply_one(self, table: _Table, change: Change) -> Outcome:
        if change.action not in ("create", "update", "delete"):
            return Outcome(error=f"csv does not support {change.action}")
        keys = self._layout.keys or tuple(change.match)
        missing = [k for k in keys if not self._cell(k, change.match.get(k, ""))]
        if missing:
            return Outcome(error=f"no value for key field {missing[0]!r}")
        key = tuple(self._cell(k, change.match[k]) for k in keys)
        values = {name: self._cell(name, v) for name, v in change.set.items()}
        values.update(dict.fromkeys(change.clear, ""))
        for name, text in values.items():
            try:
                text.encode(self._encoding)
            except UnicodeEncodeError as e:
                bad = e.object[e.start : e.end]
                return Outcome(error=f"{name}: {bad!r} cannot be written in {self._encoding}")
        if change.action == "delete":
            table.delete(keys, key)
        elif not table.update(keys, key, values):
            if change.action == "update":
                return Outcome(error=f"no row with {change.key!r} to update")
            match = {k: self._cell(k, change.match[k]) for k in keys}
            table.insert({**match, **values})
        return Outcome()

    def _replace(self, table: _Table) -> None:
        """Write a temporary file next to the target, then rename it over the target."""
        tmp = self._path.with_name(f".{self._path.name}.{uuid.uuid4().hex[:12]}.tmp")
        encoding = "utf-8-sig" if table.bom else self._encoding
        try:
            with tmp.open("x", encoding=encoding, newline="") as f:
                writer = csv.writer(
                    f,
                    delimiter=self._delimiter,
                    quotechar=self._quote,
                    quoting=csv.QUOTE_MINIMAL,
                    lineterminator=table.newline,
                )
                writer.writerow(table.header)
                writer.writerows([row.get(h, "") for h in table.header] for row in table.live_rows)
                f.flush()
                os.fsync(f.fileno())
            if table.mode is not None:
                tmp.chmod(table.mode)
            os.replace(tmp, self._path)
        except OSError as e:
            tmp.unlink(missing_ok=True)
            raise WriteFailed(f"csv: cannot write {self._path}: {e.strerror or e}") from e
        except BaseException:
            tmp.unlink(missing_ok=True)
            raise


class _Table:
    """The whole file in memory while a batch is applied; rows indexed by key."""

    def __init__(self, header: list[str], rows: list[Row], layout: Layout) -> None:
        self.header = header or list(layout.fields)
        self.rows = rows
        self.changed = False
        self.bom = False
        self.newline = "\r\n"
        self.mode: int | None = None
        self._index: dict[tuple[str, ...], dict[tuple[str, ...], list[int]]] = {}

    @classmethod
    def load(cls, provider: CsvProvider) -> _Table:
        path = provider._path
        if not path.exists():
            return cls([], [], provider._layout)
        with path.open("rb") as raw:
            bom = raw.read(3) == codecs.BOM_UTF8
        with provider._open_text() as f:
            first_line = f.readline()
            f.seek(0)
            rows = _rows(provider, f)
            header = provider._header(rows, source=False) or []
            data: list[Row] = []
            for line, row in rows:
                provider._check_width(line, row, header)
                data.append(dict(zip(header, row, strict=True)))
        table = cls(header, data, provider._layout)
        table.bom = bom and provider._read_encoding == "utf-8-sig"
        table.newline = (
            "\n" if first_line.endswith("\n") and not first_line.endswith("\r\n") else "\r\n"
        )
        table.mode = path.stat().st_mode & 0o7777
        return table

    def _find(self, keys: tuple[str, ...], key: tuple[str, ...]) -> list[int]:
        index = self._index.get(keys)
        if index is None:
            index = self._index[keys] = {}
            for i, row in enumerate(self.rows):
                index.setdefault(tuple(row.get(k, "") for k in keys), []).append(i)
        return [i for i in index.get(key, []) if self.rows[i]]

    def update(self, keys: tuple[str, ...], key: tuple[str, ...], values: Row) -> bool:
        """Set the values on every row with the key; False when there is none."""
        found = self._find(keys, key)
        for i in found:
            row = self.rows[i]
            changed = [name for name, text in values.items() if row.get(name, "") != text]
            if changed:
                self._add_columns(values)
                row.update(values)
                self.changed = True
                if any(name in indexed for indexed in self._index for name in changed):
                    self._index.clear()  # a key changed: index again when next needed
        return bool(found)

    def insert(self, row: Row) -> None:
        self._add_columns(row)
        self.rows.append(row)
        self.changed = True
        for keys, index in self._index.items():
            index.setdefault(tuple(row.get(k, "") for k in keys), []).append(len(self.rows) - 1)

    def delete(self, keys: tuple[str, ...], key: tuple[str, ...]) -> None:
        for i in self._find(keys, key):
            self.rows[i] = {}  # emptied rows are dropped when the file is written
            self.changed = True

    def _add_columns(self, row: Row) -> None:
        self.header.extend(name for name in row if name not in self.header and row[name])

    @property
    def live_rows(self) -> list[Row]:
        return [row for row in self.rows if row]


def _pick(override: str | None, default: str, what: str) -> str:
    value = default if override is None else override
    if len(value) != 1:
        raise BadInput(f"csv: {what} must be exactly one character, not {value!r}")
    return value


def _rows(provider: CsvProvider, f: IO[str]) -> Iterator[tuple[int, list[str]]]:
    """(first line, fields) of every non-blank row; parse errors as BadInput with the line."""
    reader = csv.reader(f, delimiter=provider._delimiter, quotechar=provider._quote, strict=True)
    while True:
        line = reader.line_num + 1
        try:
            row = next(reader)
        except StopIteration:
            return
        except csv.Error as e:
            if str(e) == UNCLOSED:
                raise provider._unclosed_quote(line) from e
            raise BadInput(f"{provider._path}:{line}: {e}") from e
        except UnicodeDecodeError as e:
            raise provider._bad_encoding() from e
        if row:
            yield line, row
