"""A source cell holding an error (#N/A, #DIV/0!: its formula failed) fails the read,
naming the cell: read as its text, a key would stand for no object, and the object it
stood for would look absent; so does one in a destination's key. Typed text that looks
like one is text; a column the job does not read, and a destination's other columns,
read an error as its text."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import openpyxl
import pytest

from core.errors import BadInput
from services.providers.base import Layout
from tests.excel_files import LAYOUT, provider, read, read_file, workbook

ROWS: list[list[object]] = [["id", "name", "note"], ["u1", "Ann", "x"], ["#N/A", "Bo", "y"]]


def book(folder: Path, rows: list[list[object]] = ROWS) -> None:
    workbook(folder / "people.xlsx", rows)  # openpyxl types "#N/A" as an error cell


async def test_an_error_in_a_source_cell_fails_the_read_naming_the_cell(tmp_path: Path) -> None:
    book(tmp_path)
    with pytest.raises(BadInput, match=r"sheet 'People', cell A3: the cell holds the error #N/A"):
        await read_file(tmp_path)


async def test_an_error_in_a_column_the_job_does_not_read_is_read_as_text(
    tmp_path: Path,
) -> None:
    book(tmp_path, [["id", "name", "note"], ["u1", "Ann", "#DIV/0!"]])
    layout = Layout(keys=("id",), fields=("id", "name"), reads=("id", "name"))
    side = provider(tmp_path, layout)
    await side.open(write=False)
    assert [r["id"] for r in await read(side)] == ["u1"]


async def test_a_destination_reads_an_error_as_its_text_but_in_a_key(tmp_path: Path) -> None:
    book(tmp_path, [["id", "name"], ["u1", "#N/A"]])
    side = provider(tmp_path, LAYOUT)
    await side.open(write=True)
    found = await read(side)
    assert found == [{"id": "u1", "name": "#N/A"}] and type(found[0]["name"]) is str
    # A key that failed stands for no object the source can name: its row would be
    # deleted as absent.
    book(tmp_path)
    side = provider(tmp_path, LAYOUT)
    await side.open(write=True)
    with pytest.raises(BadInput, match=r"cell A3: the cell holds the error #N/A"):
        await read(side)


async def test_text_typed_as_an_error_s_spelling_is_text(tmp_path: Path) -> None:
    book(tmp_path)
    path = tmp_path / "people.xlsx"
    loaded: Any = openpyxl.load_workbook(path)
    cell = loaded.active["A3"]
    cell.value, cell.data_type = "#N/A", "s"
    loaded.save(path)
    assert [r["id"] for r in await read_file(tmp_path)] == ["u1", "#N/A"]
