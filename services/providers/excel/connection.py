"""The workbook a side reads and writes: its path (the connection's folder and the
endpoint's file), its sheet and header row; opening it read-only with every check a
file from elsewhere needs first — what the file really is (an .xls, a workbook
encrypted with a password, no workbook at all), how far its parts would inflate (a zip
bomb is refused before anything is inflated), XML that declares entities — each refused
with the file and what to do. Writers of one folder take turns (`file_lock.locked`)."""

from __future__ import annotations

import zipfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any
from xml.etree.ElementTree import ParseError
from xml.parsers.expat import ExpatError

from defusedxml import DefusedXmlException
from openpyxl.reader.excel import ExcelReader
from openpyxl.styles.numbers import BUILTIN_FORMATS_MAX_SIZE
from openpyxl.styles.stylesheet import apply_stylesheet
from openpyxl.utils.exceptions import InvalidFileException

from core.errors import BadInput
from schemas.connections import ExcelConnection
from schemas.jobs import Endpoint

from .parts import Damaged, SheetRows, shared_strings
from .values import padded_width

ZIP = b"PK\x03\x04"
OLE = bytes.fromhex("D0CF11E0A1B11AE1")
"""A compound file: an .xls workbook, or an .xlsx encrypted with a password."""
ENCRYPTED = "EncryptedPackage".encode("utf-16-le")
WRITABLE = (".xlsx",)

MAX_PARTS = 10_000
MAX_INFLATED = 4 << 30
"""The most a workbook's parts may inflate to, together (4 GiB)."""
MAX_RATIO = 100
"""The most a part over `RATIO_FROM` bytes may inflate to, times its compressed size (as
Apache POI allows: real workbooks stay far below, zip bombs far above)."""
RATIO_FROM = 1 << 20

SAVE_AGAIN = "open it in Excel or LibreOffice and save it again as .xlsx"


class ExcelFile:
    """One workbook in the connection's folder, and the sheet a side uses."""

    def __init__(self, connection: ExcelConnection, endpoint: Endpoint) -> None:
        if not endpoint.file:
            raise BadInput("excel: the endpoint names no file; add `file = <name>.xlsx`")
        self.path = Path(connection.directory) / endpoint.file
        self.name = endpoint.file
        """The workbook as the job names it (its place in a message: "hr.xlsx, row 12")."""
        self.sheet = endpoint.sheet
        self.header_row = endpoint.header_row or 1
        if self.header_row < 1:
            raise BadInput(f"excel: header_row must be 1 or more, not {self.header_row}")

    @classmethod
    def at(cls, path: Path, sheet: str | None, header_row: int) -> ExcelFile:
        """The workbook at `path` (a staged batch's, staging.py)."""
        found = cls.__new__(cls)
        found.path, found.sheet, found.header_row = path, sheet, header_row
        found.name = path.name
        return found

    def where(self, sheet: str | None = None, cell: str | None = None) -> str:
        """How errors name the place: the file, the sheet, the cell."""
        text = str(self.path)
        if sheet is not None:
            text += f", sheet {sheet!r}"
        return f"{text}, cell {cell}" if cell else text


@dataclass(frozen=True)
class Sheet:
    title: str
    state: str
    """visible, hidden or veryHidden."""
    part: str | None
    """The worksheet's part in the archive; None for a chart sheet."""

    @property
    def shown(self) -> str:
        return repr(self.title) + ("" if self.state == "visible" else f" ({self.state})")


class Book:
    """A workbook opened read-only: its sheets, and their rows as a stream."""

    def __init__(self, path: Path, raw: IO[bytes], archive: zipfile.ZipFile) -> None:
        self.path = path
        self._raw = raw
        self.archive = archive
        reader = _Reader(archive)
        reader.read_manifest()
        reader.read_strings()
        reader.read_workbook()
        apply_stylesheet(archive, reader.wb)
        wb: Any = reader.wb
        self.strings: list[str] = reader.shared_strings
        self.dates: set[int] = set(wb._date_formats)
        self.durations: set[int] = set(wb._timedelta_formats)
        self.epoch = wb.epoch
        self.padded: dict[int, int] = _padded_styles(wb)
        self.sheets = [
            Sheet(
                sheet.name,
                sheet.state or "visible",
                None if "chartsheet" in rel.Type else rel.target,
            )
            for sheet, rel in reader.parser.find_sheets()
            if rel.target in reader.valid_files
        ]

    def pick(self, name: str | None) -> Sheet | None:
        """The sheet named (Excel's names ignore case), or the first visible one."""
        if name is None:
            cells = [s for s in self.sheets if s.part is not None]
            return next((s for s in cells if s.state == "visible"), cells[0] if cells else None)
        exact = [s for s in self.sheets if s.title == name]
        found = exact or [s for s in self.sheets if s.title.casefold() == name.casefold()]
        return found[0] if found else None

    def missing(self, name: str) -> BadInput:
        present = ", ".join(s.shown for s in self.sheets) or "none"
        return BadInput(
            f"{self.path}: no sheet named {name!r}; its sheets: {present}. Fix `sheet` "
            "(or leave it out for the first visible sheet)"
        )

    def rows(
        self, sheet: Sheet, strict_from: int = 1, merged: list[str] | None = None
    ) -> Iterator[tuple[int, dict[int, object]]]:
        """The sheet's rows as parsed (see parts.SheetRows); the part closed at the end,
        and its merged ranges then added to `merged` (they follow the rows in the part)."""
        if sheet.part is None:
            raise BadInput(f"{self.path}: sheet {sheet.title!r} is a chart, not a sheet of cells")
        parser = SheetRows(
            self.strings, self.dates, self.durations, self.epoch, strict_from, self.padded
        )
        with guarded(self.path), self.archive.open(sheet.part) as source:
            yield from parser.rows(source)
        if merged is not None:
            merged += parser.merged

    def close(self) -> None:
        self.archive.close()
        self._raw.close()


def _padded_styles(wb: Any) -> dict[int, int]:
    """Each cell style whose number format is zero-padded (values.padded_width), with the
    digits it shows. Excel's built-in formats are none such: only a workbook's own ones
    (their ids from BUILTIN_FORMATS_MAX_SIZE on, as openpyxl numbers them when read)."""
    custom: list[str] = list(wb._number_formats)
    found: dict[int, int] = {}
    for style, xf in enumerate(wb._cell_styles):
        at = xf.numFmtId - BUILTIN_FORMATS_MAX_SIZE
        if 0 <= at < len(custom) and (width := padded_width(custom[at])):
            found[style] = width
    return found


class _Reader(ExcelReader):
    """openpyxl's reader of a workbook's parts, over an archive already checked, with the
    shared strings read exactly (parts.py): openpyxl's own reading leaves an escaped
    carriage return as "_x000D_"."""

    def __init__(self, archive: zipfile.ZipFile) -> None:
        self.archive = archive
        self.valid_files = archive.namelist()
        self.read_only = True
        self.keep_vba = False
        self.data_only = True
        self.keep_links = False
        self.rich_text = False
        self.shared_strings: list[str] = []

    def read_strings(self) -> None:
        package: Any = self.package
        found = package.find(
            "application/vnd.openxmlformats-officedocument.spreadsheetml.sharedStrings+xml"
        )
        if found is not None:
            with self.archive.open(found.PartName[1:]) as source:
                self.shared_strings = shared_strings(source)


def open_book(path: Path) -> Book:
    """The workbook at `path`, checked and opened read-only (close it after use)."""
    try:
        raw = path.open("rb")
    except FileNotFoundError:
        raise BadInput(f"{path}: file not found; check `directory` and `file`") from None
    except IsADirectoryError:
        raise BadInput(f"{path} is a folder, not a workbook") from None
    try:
        with guarded(path):
            sniff(path, raw)
            archive = zipfile.ZipFile(raw)
            check_sizes(path, archive)
            return Book(path, raw, archive)
    except BaseException:
        raw.close()
        raise


def sniff(path: Path, raw: IO[bytes]) -> None:
    """Refuse what is no .xlsx by its first bytes, saying what it is."""
    head = raw.read(8)
    raw.seek(0)
    if head.startswith(ZIP):
        return
    if head == OLE:
        if _holds(raw, ENCRYPTED):
            raise BadInput(
                f"{path}: the workbook is encrypted with a password, which idsync cannot "
                "open; save a copy without one (Excel: File → Info → Protect Workbook → "
                "Encrypt with Password, emptied) and name that copy in `file`"
            )
        raise BadInput(
            f"{path}: an .xls workbook (the Excel 97-2003 format), which idsync does not "
            "read; save it as .xlsx (Excel: File → Save As → Excel Workbook; LibreOffice: "
            "`libreoffice --headless --convert-to xlsx FILE`) and name that file in `file`"
        )
    hint = ' (a CSV file? then use provider = "csv")' if head[:1].isascii() and head else ""
    raise BadInput(f"{path}: not an Excel workbook: an .xlsx file is a zip archive{hint}")


def _holds(raw: IO[bytes], needle: bytes) -> bool:
    tail = b""
    while chunk := raw.read(1 << 20):
        if needle in tail + chunk:
            raw.seek(0)
            return True
        tail = chunk[-len(needle) :]
    raw.seek(0)
    return False


def check_sizes(path: Path, archive: zipfile.ZipFile) -> None:
    """Refuse a zip bomb from the sizes the archive declares, before inflating anything
    (a part that inflates past its declared size fails its CRC check when read)."""
    parts = archive.infolist()
    if len(parts) > MAX_PARTS:
        raise BadInput(f"{path}: {len(parts):,} parts, more than a workbook has; refused")
    total = 0
    for part in parts:
        if part.flag_bits & 0x1:
            raise BadInput(f"{path}: its parts are encrypted; save it again without a password")
        total += part.file_size
        ratio = part.file_size / max(part.compress_size, 1)
        if part.file_size > RATIO_FROM and ratio > MAX_RATIO:
            raise BadInput(
                f"{path}: part {part.filename} would inflate from {part.compress_size:,} to "
                f"{part.file_size:,} bytes ({ratio:,.0f} times, more than {MAX_RATIO}): "
                "refused as a zip bomb; if the workbook is genuine, " + SAVE_AGAIN
            )
    if total > MAX_INFLATED:
        raise BadInput(
            f"{path}: its parts would inflate to {total:,} bytes, more than "
            f"{MAX_INFLATED:,}: refused"
        )


@contextmanager
def guarded(path: Path) -> Iterator[None]:
    """What reading a workbook's parts can raise, as BadInput naming the file."""
    try:
        yield
    except DefusedXmlException as e:
        raise _entities(path, e) from None
    except Damaged as e:
        raise BadInput(f"{path}: damaged ({e}); {SAVE_AGAIN}") from None
    except (
        zipfile.BadZipFile,
        zipfile.LargeZipFile,
        EOFError,
        ExpatError,
        ParseError,
        InvalidFileException,
        KeyError,
        ValueError,
        TypeError,
        NotImplementedError,
        OSError,
    ) as e:
        if isinstance(e, FileNotFoundError | PermissionError):
            raise BadInput(f"{path}: cannot read ({e.strerror})") from None
        if isinstance(e.__cause__, DefusedXmlException):  # openpyxl's load_workbook wraps it
            raise _entities(path, e.__cause__) from None
        raise BadInput(f"{path}: damaged, or not a workbook ({_said(e)}); {SAVE_AGAIN}") from None


def _entities(path: Path, error: DefusedXmlException) -> BadInput:
    return BadInput(
        f"{path}: refused: its XML declares entities ({type(error).__name__}), as an XML "
        f"bomb or a reference to another file does; if the workbook is genuine, {SAVE_AGAIN}"
    )


def _said(error: BaseException) -> str:
    text = str(error).splitlines()[0] if str(error) else type(error).__name__
    return text if len(text) < 200 else text[:200] + "…"
