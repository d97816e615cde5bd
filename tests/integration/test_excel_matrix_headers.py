"""A two-row header whose last columns are merged down from the row above (`id`, then
`Name` over `given` and `family`, then `active` and `dept` each spanning both rows): as a
source, every column is a field; as a destination, a run writes into those columns —
never a new column in their place — and a run after it plans nothing."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import openpyxl
import pytest

from schemas.connections import ExcelConnection, SqliteConnection
from schemas.jobs import Endpoint, FieldMap, Job, ObjectMapping
from tests.excel_files import read_file

from .test_scoped_reads import applied, plan_between, table
from .test_sql_matrix_typed import shown


def two_row_header(path: Path, rows: list[list[Any]]) -> None:
    book: Any = openpyxl.Workbook()
    sheet = book.active
    sheet.title = "People"
    sheet.append(["id", "Name", None, "active", "dept"])
    sheet.append([None, "given", "family", None, None])
    for ref in ("A1:A2", "B1:C1", "D1:D2", "E1:E2"):
        sheet.merge_cells(ref)
    for row in rows:
        sheet.append(row)
    book.save(path)


async def test_columns_merged_down_after_the_last_named_cell_are_fields(tmp_path: Path) -> None:
    two_row_header(tmp_path / "people.xlsx", [["u1", "Ada", "Lovelace", True, "Research"]])
    assert await read_file(tmp_path, header_row=2) == [
        {"id": "u1", "given": "Ada", "family": "Lovelace", "active": "true", "dept": "Research"}
    ]


async def test_a_destination_writes_into_its_columns_merged_down_and_then_nothing(
    tmp_path: Path,
) -> None:
    two_row_header(tmp_path / "people.xlsx", [["u1", "Ada", "Lovelace", True, "Sales"]])
    table(
        tmp_path / "hr.db",
        "hr",
        ["id", "given", "family", "active", "dept"],
        [("u1", "Ada", "Lovelace", "true", "Research"), ("u2", "Grace", "Hopper", "false", "Navy")],
    )
    job = Job(
        id="to-sheet",
        source=Endpoint(connection="hr", table="hr"),
        destination=Endpoint(connection="books", file="people.xlsx", header_row=2),
        objects=[
            ObjectMapping(
                keys=["id"],
                fields=[FieldMap(to=name) for name in ("id", "given", "family", "active", "dept")],
            )
        ],
    )
    source = SqliteConnection(id="hr", path=str(tmp_path / "hr.db"))
    target = ExcelConnection(id="books", directory=str(tmp_path))
    first = await plan_between(source, target, job, None)
    assert shown(first) == [
        "create u2 [('active', 'false'), ('dept', 'Navy'), ('family', 'Hopper'),"
        " ('given', 'Grace'), ('id', 'u2')] []",
        "update u1 [('dept', 'Research')] []",
    ]
    outcomes, _ = await applied(source, target, job, first.plan.changes)
    assert [o.error for o in outcomes] == [None, None]
    again = await plan_between(source, target, job, None)
    assert shown(again) == []
    sheet: Any = openpyxl.load_workbook(tmp_path / "people.xlsx").active
    assert [[c.value for c in row] for row in sheet.iter_rows(min_row=2)] == [
        [None, "given", "family", None, None],
        ["u1", "Ada", "Lovelace", True, "Research"],
        ["u2", "Grace", "Hopper", False, "Navy"],
    ]


@pytest.mark.parametrize("mode", ["update", "replace"])
async def test_a_field_the_two_row_header_lacks_becomes_a_column_after_the_last(
    tmp_path: Path, mode: str
) -> None:
    two_row_header(tmp_path / "people.xlsx", [["u1", "Ada", "Lovelace", True, "Sales"]])
    table(tmp_path / "hr.db", "hr", ["id", "mail"], [("u1", "ada@example.org")])
    job = Job(
        id="to-sheet",
        source=Endpoint(connection="hr", table="hr"),
        destination=Endpoint(
            connection="books",
            file="people.xlsx",
            header_row=2,
            mode=mode,  # type: ignore[arg-type]
        ),
        objects=[ObjectMapping(keys=["id"], fields=[FieldMap(to="id"), FieldMap(to="mail")])],
    )
    source = SqliteConnection(id="hr", path=str(tmp_path / "hr.db"))
    target = ExcelConnection(id="books", directory=str(tmp_path))
    first = await plan_between(source, target, job, None)
    assert shown(first) == ["update u1 [('mail', 'ada@example.org')] []"]
    outcomes, _ = await applied(source, target, job, first.plan.changes)
    assert [o.error for o in outcomes] == [None]
    assert shown(await plan_between(source, target, job, None)) == []
    assert await read_file(tmp_path, header_row=2) == [
        {
            "id": "u1",
            "given": "Ada",
            "family": "Lovelace",
            "active": "true",
            "dept": "Sales",
            "mail": "ada@example.org",
        }
    ]
