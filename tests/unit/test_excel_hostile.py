"""Hostile and broken workbooks: each refused with the file and what to do, as a source
and as a destination, and nothing written."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import openpyxl
import pytest

from core.errors import BadInput
from schemas.plan import Change
from tests.excel_files import (
    Mode,
    encrypted,
    names_in,
    old_xls,
    provider,
    read_file,
    workbook,
    xml_bomb,
    zip_bomb,
)


def corrupt(path: Path) -> None:
    """A workbook cut short, as a download that stopped does."""
    workbook(path, [["id"], ["u1"]])
    path.write_bytes(path.read_bytes()[:1500])


def not_a_zip(path: Path) -> None:
    path.write_text("id;name\nu1;Ann\n")


def missing_sheet(path: Path) -> None:
    workbook(path, [["id"], ["u1"]], title="Staff")


def duplicate_header(path: Path) -> None:
    workbook(path, [["id", "mail", "mail"], ["u1", "a", "b"]])


def empty_header(path: Path) -> None:
    workbook(path, [["id", "", "mail"], ["u1", "a", "b"]])


HOSTILE: list[tuple[str, Callable[[Path], None], str]] = [
    ("corrupt zip", corrupt, r"people\.xlsx: damaged, or not a workbook .*save it again as \.xlsx"),
    ("not a zip", not_a_zip, r'people\.xlsx: not an Excel workbook.*provider = "csv"'),
    (
        "zip bomb",
        zip_bomb,
        r"people\.xlsx: part xl/worksheets/sheet1\.xml would inflate .*zip bomb",
    ),
    ("xml bomb", xml_bomb, r"people\.xlsx: refused: its XML declares entities"),
    (
        "password",
        encrypted,
        r"people\.xlsx: the workbook is encrypted with a password.*save a copy",
    ),
    (
        ".xls",
        old_xls,
        r"people\.xlsx: an \.xls workbook \(the Excel 97-2003 format\).*save it as \.xlsx",
    ),
    ("missing sheet", missing_sheet, r"people\.xlsx: no sheet named 'People'; its sheets: 'Staff'"),
    (
        "duplicate header",
        duplicate_header,
        r"people\.xlsx, sheet 'People': the header names 'mail' twice",
    ),
    (
        "empty header",
        empty_header,
        r"people\.xlsx, sheet 'People', cell B1: column B of the header has no name",
    ),
]


@pytest.mark.parametrize(("make", "message"), [h[1:] for h in HOSTILE], ids=[h[0] for h in HOSTILE])
async def test_a_hostile_or_broken_source_is_refused_naming_the_file_and_what_to_do(
    tmp_path: Path, make: Callable[[Path], None], message: str
) -> None:
    make(tmp_path / "people.xlsx")
    with pytest.raises(BadInput, match=message):
        await read_file(tmp_path, sheet="People")


@pytest.mark.parametrize(
    ("make", "message"),
    [h[1:] for h in HOSTILE if h[0] != "missing sheet"],
    ids=[h[0] for h in HOSTILE if h[0] != "missing sheet"],
)
@pytest.mark.parametrize("mode", ["update", "replace"])
async def test_a_hostile_or_broken_destination_is_refused_and_left_as_it_was(
    tmp_path: Path, make: Callable[[Path], None], message: str, mode: Mode
) -> None:
    path = tmp_path / "people.xlsx"
    make(path)
    before = path.read_bytes()
    side = provider(tmp_path, sheet="People", mode=mode)
    with pytest.raises(BadInput, match=message):
        await side.open(write=True)
    create = Change(action="create", key="u9", match={"id": "u9"}, set={"id": "u9"})
    with pytest.raises(BadInput, match=message):
        await side.apply([create])  # a batch given anyway writes nothing either
    assert path.read_bytes() == before
    assert names_in(tmp_path) == ["people.xlsx"]


def test_openpyxl_parses_with_defusedxml() -> None:
    """openpyxl uses defusedxml when it is installed (a dependency of idsync)."""
    assert openpyxl.DEFUSEDXML is True
