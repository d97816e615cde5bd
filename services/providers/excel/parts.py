"""Parsing a workbook's XML parts as a stream: the shared strings, and a sheet's rows one
at a time, so a sheet of any length is read in constant memory (its shared strings apart).

The parser is defusedxml's (the one openpyxl uses): a part that declares entities or
refers to external ones is refused before anything is expanded. Its element handlers are
ours: no element tree is built, each row is handed on as soon as it ends.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from datetime import datetime
from typing import IO, Any

from defusedxml.ElementTree import DefusedXMLParser
from openpyxl.utils.datetime import from_excel, from_ISO8601

from .values import padded, unescape

CHUNK = 1 << 16
_from_iso: Any = from_ISO8601  # untyped in openpyxl's stubs

Row = tuple[int, dict[int, object]]
"""A row as read: its number (from 1) and its non-empty cells by column (from 1)."""


class Unsaved:
    """A formula whose value was never saved with the workbook (openpyxl, and so idsync's
    own writes in `mode = "update"`, save formulas without one): an error where the job
    needs the cell's value, no value elsewhere (read.py)."""

    __slots__ = ("coordinate", "formula")

    def __init__(self, coordinate: str, formula: str) -> None:
        self.coordinate = coordinate
        self.formula = formula

    def __str__(self) -> str:
        return ""  # no value, wherever it is taken as text


class CellError(str):
    """The error a cell holds (`#N/A`, `#DIV/0!`: a formula that failed), as its text,
    told apart from the same text typed in a cell."""


class Damaged(Exception):
    """A part that is not what a workbook holds there."""


def _parser(
    start: Callable[[str, dict[str, str]], None],
    end: Callable[[str], None],
    data: Callable[[str], None],
) -> Any:
    """An expat parser guarded by defusedxml, calling our handlers."""
    expat = DefusedXMLParser().parser
    expat.ordered_attributes = False
    expat.buffer_text = True
    expat.StartElementHandler = start
    expat.EndElementHandler = end
    expat.CharacterDataHandler = data
    return expat


_LOCAL: dict[str, str] = {}


def _local(name: str) -> str:
    """An element's name without its namespace (any namespace: some writers use others)."""
    found = _LOCAL.get(name)
    if found is None:
        found = name.rpartition("}")[2]
        if len(_LOCAL) < 1_000:
            _LOCAL[name] = found
    return found


class _Text:
    """Collects the text of <t> elements outside phonetic runs (<rPh>)."""

    def __init__(self) -> None:
        self.parts: list[str] = []
        self.inside = False
        self.phonetic = 0

    def data(self, text: str) -> None:
        if self.inside:
            self.parts.append(text)

    def take(self) -> str:
        text = "".join(self.parts)
        self.parts.clear()
        return unescape(text)


def shared_strings(source: IO[bytes]) -> list[str]:
    """Every string of a sharedStrings part, rich text as its plain text."""
    strings: list[str] = []
    text = _Text()

    def start(name: str, attrs: dict[str, str]) -> None:
        tag = _local(name)
        if tag == "t":
            text.inside = not text.phonetic
        elif tag == "rPh":
            text.phonetic += 1

    def end(name: str) -> None:
        tag = _local(name)
        if tag == "t":
            text.inside = False
        elif tag == "rPh":
            text.phonetic -= 1
        elif tag == "si":
            strings.append(text.take())

    expat = _parser(start, end, text.data)
    while chunk := source.read(CHUNK):
        expat.Parse(chunk, False)
    expat.Parse(b"", True)
    return strings


class SheetRows:
    """A worksheet part's rows, parsed as the file is read. `merged` holds the merged
    ranges ("A1:C1") once the rows are through (they follow the rows in the part)."""

    def __init__(
        self,
        strings: list[str],
        dates: set[int],
        durations: set[int],
        epoch: datetime,
        strict_from: int = 1,
        padded: dict[int, int] | None = None,
    ) -> None:
        self.strings = strings
        self.padded = padded or {}
        """Style → digits of its zero-padded format: a whole number there reads as shown."""
        self.dates = dates
        self.durations = durations
        self.epoch = epoch
        self.strict_from = strict_from
        """From this row on, a formula without a saved value is an error (above: empty)."""
        self.merged: list[str] = []
        self._done: list[Row] = []
        self._cells: dict[int, object] = {}
        self._row = 0
        self._column = 0
        self._text = _Text()
        self._kind = "n"
        self._style = 0
        self._ref: str | None = None
        self._raw: str | None = None
        self._formula: str | None = None
        self._inline: str | None = None

    def rows(self, source: IO[bytes]) -> Iterator[Row]:
        expat = _parser(self._start, self._end, self._text.data)
        while chunk := source.read(CHUNK):
            expat.Parse(chunk, False)
            yield from self._done
            self._done.clear()
        expat.Parse(b"", True)
        yield from self._done
        self._done.clear()

    def _start(self, name: str, attrs: dict[str, str]) -> None:
        tag = _LOCAL.get(name) or _local(name)  # the hot path: every element of the sheet
        text = self._text
        if tag == "c":
            ref = attrs.get("r")
            if ref:
                self._column = _COLUMNS.get(ref.rstrip(_DIGITS)) or column_of(ref)
            else:
                self._column += 1
            self._ref = ref
            self._kind = attrs.get("t", "n")
            style = attrs.get("s")
            self._style = int(style) if style else 0
            self._raw = self._formula = self._inline = None
        elif tag == "v":
            text.inside = True
        elif tag == "t":
            text.inside = not text.phonetic
        elif tag == "f":
            text.inside = True
        elif tag == "is":
            self._inline = ""
        elif tag == "rPh":
            text.phonetic += 1
        elif tag == "row":
            ref = attrs.get("r")
            self._row = int(float(ref)) if ref else self._row + 1
            self._column = 0
            self._cells = {}
        elif tag == "mergeCell" and (ref := attrs.get("ref")):
            self.merged.append(ref)

    def _end(self, name: str) -> None:
        tag = _LOCAL.get(name) or _local(name)
        text = self._text
        if tag == "v":
            text.inside = False
            self._raw = "".join(text.parts)
            text.parts.clear()
        elif tag == "f":
            text.inside = False
            self._formula = "".join(text.parts)
            text.parts.clear()
        elif tag == "t":
            text.inside = False
        elif tag == "rPh":
            text.phonetic -= 1
        elif tag == "is":
            self._inline = text.take()
        elif tag == "c":
            value = self._value()
            if value is not None and value != "":
                self._cells[self._column] = value
        elif tag == "row":
            self._done.append((self._row, self._cells))

    def _coordinate(self) -> str:
        return self._ref or f"{letters(self._column)}{self._row}"

    def _value(self) -> object:
        kind, raw = self._kind, self._raw
        if kind == "inlineStr":
            return self._inline
        if not raw:
            # A formula's value is saved in <v>; openpyxl writes an empty one for a formula
            # it cannot calculate, Excel an empty text result as t="str".
            unsaved = raw is None or kind != "str"
            if self._formula is not None and unsaved and self._row >= self.strict_from:
                return Unsaved(self._coordinate(), self._formula)
            return None
        try:
            if kind == "s":
                return self.strings[int(raw)]
            if kind == "n":
                number: int | float = (
                    float(raw) if "." in raw or "E" in raw or "e" in raw else int(raw)
                )
                if self._style in self.dates:
                    return from_excel(number, self.epoch, timedelta=self._style in self.durations)
                width = self.padded.get(self._style)
                return (padded(number, width) if width else None) or number
            if kind == "b":
                return raw.strip() not in ("0", "false", "")
            if kind == "d":
                return _from_iso(raw)
        except (ValueError, IndexError, OverflowError) as e:
            what = _KINDS.get(kind, kind)
            raise Damaged(f"cell {self._coordinate()}: {raw!r} is no {what}") from e
        if kind == "e":  # an error such as #N/A
            return CellError(unescape(raw))
        return unescape(raw)  # "str" (a formula's text)


_KINDS = {"s": "shared string", "n": "number", "b": "boolean", "d": "date"}
_DIGITS = "0123456789"
_COLUMNS: dict[str, int] = {}


def column_of(ref: str) -> int:
    """The column number of a cell reference ("AB12" → 28)."""
    name = ref.rstrip("0123456789$").lstrip("$")
    found = _COLUMNS.get(name)
    if found is None:
        found = 0
        for char in name.upper():
            found = found * 26 + ord(char) - 64
        if len(_COLUMNS) < 20_000:
            _COLUMNS[name] = found
    return found


def letters(column: int) -> str:
    """A column's letters (28 → "AB")."""
    name = ""
    while column:
        column, rest = divmod(column - 1, 26)
        name = chr(65 + rest) + name
    return name


_MERGE = re.compile(
    rb'<(?:[A-Za-z_][\w.-]*:)?mergeCell\b[^>]*?\bref="([A-Z$]+[0-9$]+(?::[A-Z$]+[0-9$]+)?)"'
)


def merged_ranges(source: IO[bytes]) -> list[str]:
    """The merged ranges of a worksheet part ("A1:C1"), found without parsing its rows."""
    found: list[str] = []
    tail = b""
    while chunk := source.read(CHUNK * 16):
        text = tail + chunk
        cut = max(text.rfind(b"<"), len(text) - 512)  # an element cut by the chunk comes again
        found += [m.decode() for m in _MERGE.findall(text, 0, cut)]
        tail = text[cut:]
    found += [m.decode() for m in _MERGE.findall(tail)]
    return found
