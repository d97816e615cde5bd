"""A key two rows of a CSV file or a sheet share refuses the plan naming the line (the
row) of each, whichever way the plan is made: in memory, in little memory with the
destination holding the key, or with the creates spilled to disk."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any, cast

import msgspec
import openpyxl
import pytest

from core.engine.keys import DuplicateKey
from schemas.connections import CsvConnection, ExcelConnection
from schemas.jobs import Endpoint, Job, ObjectMapping
from schemas.values import Record
from services.providers import open_provider
from services.providers.base import Layout, Provider
from services.runner.planning import Sides, plan_job

MAPPING = msgspec.convert(
    {
        "type": "user",
        "keys": ["employee_id"],
        "on_destination_only": "delete",
        "fields": [{"to": "employee_id", "from": "id"}, {"to": "name"}],
    },
    ObjectMapping,
)
JOB = Job(
    id="hr",
    source=Endpoint(connection="src"),
    destination=Endpoint(connection="dst"),
    objects=[MAPPING],
)
LAYOUT = Layout(keys=("id",), fields=("id", "name"))


class Destination:
    """A table: `lean` makes it cheap to read twice (planned in little memory)."""

    def __init__(self, records: list[Record], lean: bool) -> None:
        self.records = records
        self.rereadable = lean

    async def read(self, batch_size: int) -> AsyncIterator[list[Record]]:
        yield [dict(r) for r in self.records]

    def canonical(self, record: Record) -> Record:
        return record


def csv_source(folder: Path) -> Provider:
    # a BOM, a blank line and a quoted line break: lines are the file's, not the rows'
    text = '\ufeffid;name\n007;Ann\n\n042;"Bo\nBerg"\n043;Cy\n 042 ;Dee\n'
    (folder / "hr.csv").write_text(text, encoding="utf-8")
    connection = CsvConnection(id="src", directory=str(folder), delimiter=";")
    return open_provider(connection, Endpoint(connection="src", file="hr.csv"), LAYOUT)


def excel_source(folder: Path) -> Provider:
    book: Any = openpyxl.Workbook()
    book.active.title = "Staff"
    for row in [["id", "name"], ["007", "Ann"], [], ["042", "Bo"], ["043", "Cy"], ["042", "Bo"]]:
        book.active.append(row)
    book.save(folder / "hr.xlsx")
    connection = ExcelConnection(id="src", directory=str(folder))
    endpoint = Endpoint(connection="src", file="hr.xlsx", sheet="staff")
    return open_provider(connection, endpoint, LAYOUT)


async def refusal(source: Provider, destination: Destination) -> str:
    await source.open(write=False)
    with pytest.raises(DuplicateKey) as refused:
        await plan_job(JOB, Sides(source, cast(Provider, destination)))
    return str(refused.value)


# in memory; in little memory, the key held by the destination (an update twice);
# in little memory, a first run (the creates spilled to disk)
WAYS = [([], False), ([{"employee_id": "042", "name": "Bo"}], True), ([], True)]


@pytest.mark.parametrize(("held", "lean"), WAYS)
def test_a_csv_key_twice_names_both_lines(tmp_path: Path, held: list[Record], lean: bool) -> None:
    said = asyncio.run(refusal(csv_source(tmp_path), Destination(held, lean)))
    assert said.startswith('hr.csv:4 and hr.csv:7 both have employee_id "042": ')


@pytest.mark.parametrize(("held", "lean"), WAYS)
def test_a_sheet_key_twice_names_both_rows(tmp_path: Path, held: list[Record], lean: bool) -> None:
    # two rows alike: two rows named, not the first one twice
    said = asyncio.run(refusal(excel_source(tmp_path), Destination(held, lean)))
    assert said.startswith(
        "hr.xlsx, sheet 'Staff', row 4 and hr.xlsx, sheet 'Staff', row 6 both have "
        'employee_id "042": '
    )
