"""An Excel sheet kept by hand as a destination, in both modes: a title and a two-row
header with merged cells above the rows, a formula column the job does not write (its
values saved, as Excel saves them), a second sheet. A run writes its changes, and the run
after it reads the workbook it left and plans nothing."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import openpyxl
import pytest

from core.errors import BadInput
from schemas.connections import ExcelConnection, SqliteConnection
from schemas.jobs import Endpoint, FieldMap, Job, ObjectMapping, Safety
from tests.excel_files import save_values

from .test_scoped_reads import applied, plan_between, table
from .test_sql_matrix_typed import shown


def the_job(mode: str, header_row: int) -> Job:
    return Job(
        id="to-sheet",
        source=Endpoint(connection="hr", table="hr"),
        destination=Endpoint(
            connection="books",
            file="people.xlsx",
            sheet="People",
            header_row=header_row,
            mode=mode,  # type: ignore[arg-type]
        ),
        objects=[
            ObjectMapping(
                keys=["id"],
                fields=[FieldMap(to="id"), FieldMap(to="given"), FieldMap(to="family")],
                on_destination_only="delete",
            )
        ],
        safety=Safety(max_percent=100),
    )


def sheet_with_formulas(path: Path, header: str) -> int:
    """The workbook; the header row's number."""
    book: Any = openpyxl.Workbook()
    sheet = book.active
    sheet.title = "People"
    book.create_sheet("Notes").append(["kept by hand"])
    if header == "two rows":
        sheet.append(["id", "Name", None, "initials"])
        sheet.append([None, "given", "family", None])
        for ref in ("A1:A2", "B1:C1", "D1:D2"):
            sheet.merge_cells(ref)
        row = 2
    else:
        sheet.append(["id", "given", "family", "initials"])
        row = 1
    saved = {}
    for n, (key, given, family) in enumerate(
        [("u1", "Ada", "Lovelace"), ("u2", "Grace", "Hopper"), ("u3", "Alan", "Turing")]
    ):
        at = row + 1 + n
        sheet.append([key, given, family, f"=LEFT(B{at},1)&LEFT(C{at},1)"])
        saved[f"D{at}"] = given[0] + family[0]
    book.save(path)
    save_values(path, saved)
    return row


@pytest.mark.parametrize("header", ["one row", "two rows"])
@pytest.mark.parametrize("mode", ["update", "replace"])
async def test_a_sheet_kept_by_hand_then_nothing(tmp_path: Path, mode: str, header: str) -> None:
    header_row = sheet_with_formulas(tmp_path / "people.xlsx", header)
    rows = [("u1", "Ada", "King"), ("u3", "Alan", "Turing"), ("u4", "Edsger", "Dijkstra")]
    table(tmp_path / "hr.db", "hr", ["id", "given", "family"], rows)
    source = SqliteConnection(id="hr", path=str(tmp_path / "hr.db"))
    target = ExcelConnection(id="books", directory=str(tmp_path))
    job = the_job(mode, header_row)
    first = await plan_between(source, target, job, None)
    assert [c.split(" ")[:2] for c in shown(first)] == [
        ["create", "u4"],
        ["delete", "u2"],
        ["update", "u1"],
    ]
    outcomes, _ = await applied(source, target, job, first.plan.changes)
    assert [o.error for o in outcomes] == [None] * 3
    again = await plan_between(source, target, job, None)
    assert shown(again) == []
    sheet: Any = openpyxl.load_workbook(tmp_path / "people.xlsx")["People"]
    formulas = [row[3].value for row in sheet.iter_rows(min_row=header_row + 1)]
    kept = f"=LEFT(B{header_row + 1},1)&LEFT(C{header_row + 1},1)" if mode == "update" else "AL"
    assert formulas[0] == kept, formulas  # replace: the formula's saved value


async def test_a_key_that_is_a_formula_without_its_value_is_refused(tmp_path: Path) -> None:
    """The key of a destination's row unknown: its object would look absent."""
    book: Any = openpyxl.Workbook()
    book.active.title = "People"
    for row in (["id", "given", "family"], ["u1", "Ada", "Lovelace"], ['=LOWER("U2")', "G", "H"]):
        book.active.append(row)
    book.save(tmp_path / "people.xlsx")
    table(tmp_path / "hr.db", "hr", ["id", "given", "family"], [("u1", "Ada", "Lovelace")])
    source = SqliteConnection(id="hr", path=str(tmp_path / "hr.db"))
    target = ExcelConnection(id="books", directory=str(tmp_path))
    with pytest.raises(BadInput, match=r"cell A3: the formula =LOWER.* has no saved value"):
        await plan_between(source, target, the_job("update", 1), None)


async def test_replace_mode_refuses_a_formula_without_its_value_naming_it(tmp_path: Path) -> None:
    """The mode writes each formula's saved value: one without is refused when the run
    plans, before anything is written."""
    book: Any = openpyxl.Workbook()
    book.active.title = "People"
    for row in (["id", "given", "note"], ["u1", "Ada", '=UPPER("x")']):
        book.active.append(row)
    book.save(tmp_path / "people.xlsx")
    table(tmp_path / "hr.db", "hr", ["id", "given"], [("u1", "Ada"), ("u2", "Grace")])
    source = SqliteConnection(id="hr", path=str(tmp_path / "hr.db"))
    target = ExcelConnection(id="books", directory=str(tmp_path))
    job = Job(
        id="to-sheet",
        source=Endpoint(connection="hr", table="hr"),
        destination=Endpoint(connection="books", file="people.xlsx", mode="replace"),
        objects=[ObjectMapping(keys=["id"], fields=[FieldMap(to="id"), FieldMap(to="given")])],
    )
    with pytest.raises(BadInput, match=r"cell C2: the formula =UPPER.* has no saved value"):
        await plan_between(source, target, job, None)
