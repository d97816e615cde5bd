"""The file a CSV side reads and writes, and how it is written: its path (the
connection's folder and the endpoint's file), delimiter, quote and encoding. Parsing
errors name the file and the line to fix."""

from __future__ import annotations

import codecs
import csv
import itertools
from collections.abc import Generator
from pathlib import Path
from typing import IO, TYPE_CHECKING

from core.errors import BadInput
from schemas.connections import CsvConnection
from schemas.jobs import Endpoint

from .checks import workbook_problem
from .quotes import UNCLOSED, unclosed_quote_line

if TYPE_CHECKING:
    from _csv import Reader  # a file's parser (csv.reader): each row's fields

Row = tuple[int, list[str]]
"""A row as parsed: the line it starts on, its fields."""


class CsvFile:
    """One delimited text file in the connection's folder."""

    def __init__(self, connection: CsvConnection, endpoint: Endpoint) -> None:
        if not endpoint.file:
            raise BadInput("csv: the endpoint names no file; add `file: <name>.csv`")
        self.path = Path(connection.directory) / endpoint.file
        self.name = endpoint.file
        """The file as the job names it (its place in a message: "hr.csv:12")."""
        self.width: int | None = None
        """A source's fields per row, where its header ends with columns without a name
        (a spreadsheet's "Save as CSV" of a sheet with used columns past the last one:
        `a,b,,`): they are no data (read.header); None: as many as the header names."""
        if (why := workbook_problem(endpoint.file)) is not None:
            raise BadInput(f"csv: {self.path}: {why}")
        self.delimiter = _pick(endpoint.delimiter, connection.delimiter, "delimiter")
        self.quote = _pick(endpoint.quote_char, connection.quote_char, "quote_char")
        if self.delimiter == self.quote:
            raise BadInput(f"csv: delimiter and quote_char are both {self.quote!r}")
        self.encoding = endpoint.encoding or connection.encoding
        try:
            codec = codecs.lookup(self.encoding).name
        except LookupError:
            raise BadInput(f"csv: unknown encoding {self.encoding!r} for {self.path}") from None
        self.codec = codec
        # utf-8 files saved by Excel start with a BOM: utf-8-sig reads both spellings.
        self.read_encoding = "utf-8-sig" if codec == "utf-8" else self.encoding

    def check_start(self) -> None:
        """Refuse a file whose first bytes, a byte order mark, say it is in another
        encoding than the one set (Excel's "CSV UTF-8", its "Unicode Text"): read so, every
        letter beyond ASCII would be read, and written on, as other letters."""
        with self.path.open("rb") as f:
            head = f.read(4)
        for mark, name, codecs_of in _MARKS:
            if head.startswith(mark):
                if not self.codec.startswith(codecs_of):
                    raise BadInput(
                        f"{self.path}: the file starts with a {name} byte order mark, so it "
                        f"is {name} text, but its encoding is set to {self.encoding}: set "
                        f'the endpoint\'s `encoding = "{name.lower()}"`'
                    )
                return

    def open_text(self) -> IO[str]:
        return self.path.open(encoding=self.read_encoding, newline="")

    def reader(self, f: IO[str]) -> Reader:
        """The file's parser: rows as lists of fields (`rows` numbers them)."""
        return csv.reader(f, delimiter=self.delimiter, quotechar=self.quote, strict=True)

    def rows(self, f: IO[str]) -> Generator[Row, None, None]:
        """(first line, fields) of every non-blank row; parse errors as BadInput with the line."""
        return self.numbered(self.reader(f))

    def numbered(self, reader: Reader) -> Generator[Row, None, None]:
        """`rows` of a parser, from where it is."""
        while True:
            line = reader.line_num + 1
            try:
                row = next(reader)
            except StopIteration:
                return
            except csv.Error as e:
                if str(e) == UNCLOSED:
                    raise self._unclosed_quote(line) from e
                raise BadInput(f"{self.path}:{line}: {e}") from e
            except UnicodeError as e:  # UTF-16 without a BOM: not a UnicodeDecodeError
                raise self._bad_encoding() from e
            if row:
                yield line, row

    def _unclosed_quote(self, row_line: int) -> BadInput:
        """The error for a file that ends inside a quoted value, naming the quote's line."""
        with self.open_text() as f:
            rest = itertools.islice(f, row_line - 1, None)
            line = unclosed_quote_line(rest, row_line, self.delimiter, self.quote)
        return BadInput(
            f"{self.path}: unclosed quote starting at line {line}: the file ends inside "
            f"the value it opens (close it with {self.quote}, or write {self.quote * 2} "
            "for a quote inside a value)"
        )

    def _bad_encoding(self) -> BadInput:
        """The error for undecodable bytes, naming the first bad line (counted exactly)."""
        with self.path.open("rb") as f:
            head = f.read(8)
        if head.startswith(b"PK\x03\x04") or head == bytes.fromhex("D0CF11E0A1B11AE1"):
            return BadInput(
                f"{self.path}: an Excel workbook (or another zip or Office file), not "
                'delimited text: read it with a connection of provider = "excel"'
            )
        decoder = codecs.getincrementaldecoder(self.read_encoding)()
        line = 1
        with self.path.open("rb") as f:
            for chunk in f:
                try:
                    line += decoder.decode(chunk).count("\n")
                except UnicodeError:
                    break
        return BadInput(
            f"{self.path}: not valid {self.encoding} near line {line}; "
            f"save the file as {self.encoding} or set the endpoint's `encoding`"
        )


_MARKS = [
    (codecs.BOM_UTF8, "UTF-8", ("utf-8",)),
    (codecs.BOM_UTF32_LE, "UTF-32", ("utf-32",)),
    (codecs.BOM_UTF32_BE, "UTF-32", ("utf-32",)),
    (codecs.BOM_UTF16_LE, "UTF-16", ("utf-16", "utf-32")),
    (codecs.BOM_UTF16_BE, "UTF-16", ("utf-16",)),
]
"""Byte order marks, longest first, with the encoding each says and the codecs that read it."""


def _pick(override: str | None, default: str, what: str) -> str:
    value = default if override is None else override
    if len(value) != 1:
        raise BadInput(f"csv: {what} must be exactly one character, not {value!r}")
    return value
