"""Workbooks for the Excel provider's tests: providers over a folder, and files as other
programs leave them — typed cells, formulas with and without a saved value, and hostile
or broken files (a zip bomb, an XML bomb, an encrypted workbook, an .xls)."""

from __future__ import annotations

import io
import re
import zipfile
from collections.abc import Callable
from pathlib import Path
from typing import Any, Literal

import openpyxl

from schemas.connections import ExcelConnection
from schemas.jobs import Endpoint, RowMark
from schemas.values import Record
from services.providers import open_provider
from services.providers.base import Layout
from services.providers.excel.provider import ExcelProvider

Mode = Literal["update", "replace"]
LAYOUT = Layout(keys=("id",), fields=("id", "name"), multi_valued={"groups": "|"})


def provider(
    folder: Path,
    layout: Layout = LAYOUT,
    *,
    file: str = "people.xlsx",
    sheet: str | None = None,
    header_row: int | None = None,
    mode: Mode | None = None,
    mark: RowMark | None = None,
) -> ExcelProvider:
    connection = ExcelConnection(id="books", directory=str(folder))
    endpoint = Endpoint(
        connection="books", file=file, sheet=sheet, header_row=header_row, mode=mode, mark=mark
    )
    found = open_provider(connection, endpoint, layout)
    assert isinstance(found, ExcelProvider)
    return found


async def read(side: ExcelProvider, batch_size: int = 100) -> list[Record]:
    return [record async for batch in side.read(batch_size) for record in batch]


async def read_file(folder: Path, **options: Any) -> list[Record]:
    side = provider(folder, **options)
    await side.open(write=False)
    return await read(side)


def workbook(path: Path, rows: list[list[Any]], title: str = "People") -> Any:
    """A workbook of one sheet holding `rows` (as openpyxl types them), saved at `path`."""
    book: Any = openpyxl.Workbook()
    book.active.title = title
    for row in rows:
        book.active.append(row)
    book.save(path)
    return book


def names_in(folder: Path) -> list[str]:
    """The files of a folder, sorted (a temporary file left behind would show)."""
    return sorted(p.name for p in folder.iterdir())


def edit_part(path: Path, part: str, edit: Callable[[bytes], bytes]) -> None:
    """Rewrite one part of the workbook's zip, as another program would have written it."""
    with zipfile.ZipFile(path) as old:
        parts = [(info, old.read(info)) for info in old.infolist()]
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as new:
        for info, data in parts:
            new.writestr(info, edit(data) if info.filename == part else data)


def save_values(path: Path, values: dict[str, str], sheet: str = "sheet1") -> None:
    """Store `values` (cell → text) as the formulas' saved values, as Excel would on
    saving: openpyxl writes formulas with none."""

    def store(xml: bytes) -> bytes:
        text = xml.decode()
        for cell, value in values.items():
            kind = "" if re.fullmatch(r"-?[0-9.]+(E[-+]?[0-9]+)?", value) else ' t="str"'
            text, found = re.subn(
                rf'<c r="{cell}"([^>]*)>(<f>[^<]*</f>|<f/>)<v\s*/>',
                rf'<c r="{cell}"\1{kind}>\2<v>{value}</v>',
                text,
            )
            assert found == 1, f"no formula in {cell}"
        return text.encode()

    edit_part(path, f"xl/worksheets/{sheet}.xml", store)


def zip_bomb(path: Path) -> None:
    """A workbook whose sheet inflates 1,000 times (64 MiB of spaces)."""
    workbook(path, [["id"], ["u1"]])
    edit_part(path, "xl/worksheets/sheet1.xml", lambda xml: xml + b" " * (64 << 20))


BILLION_LAUGHS = b"""<?xml version="1.0"?>
<!DOCTYPE lolz [<!ENTITY lol "lol"><!ENTITY lol2 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">
<!ENTITY lol3 "&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;">]>
<sst xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main"><si><t>&lol3;</t></si></sst>"""


def xml_bomb(path: Path) -> None:
    """A workbook whose shared strings expand entities (billion laughs)."""
    book: Any = openpyxl.Workbook()
    book.active.append(["id"])
    book.save(path)

    def shared(xml: bytes) -> bytes:
        return xml.replace(
            b'<c r="A1" t="inlineStr"><is><t>id</t></is></c>', b'<c r="A1" t="s"><v>0</v></c>'
        )

    edit_part(path, "xl/worksheets/sheet1.xml", shared)
    with zipfile.ZipFile(path, "a") as archive:
        archive.writestr("xl/sharedStrings.xml", BILLION_LAUGHS)

    def declare(xml: bytes) -> bytes:
        return xml.replace(
            b"</Types>",
            b'<Override PartName="/xl/sharedStrings.xml" ContentType="application/'
            b'vnd.openxmlformats-officedocument.spreadsheetml.sharedStrings+xml"/></Types>',
        )

    edit_part(path, "[Content_Types].xml", declare)


def encrypted(path: Path, password: str = "secret") -> None:
    """A workbook encrypted with a password, as Excel's File → Protect Workbook does."""
    import msoffcrypto.format.ooxml  # type: ignore[import-untyped]

    plain = io.BytesIO()
    openpyxl.Workbook().save(plain)
    plain.seek(0)
    with path.open("wb") as out:
        msoffcrypto.format.ooxml.OOXMLFile(plain).encrypt(password, out)


def old_xls(path: Path) -> None:
    """An Excel 97-2003 workbook."""
    import xlwt  # type: ignore[import-untyped]

    book = xlwt.Workbook()
    sheet = book.add_sheet("People")
    sheet.write(0, 0, "id")
    sheet.write(1, 0, "u1")
    book.save(str(path))
