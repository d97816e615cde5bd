"""A messy HR workbook — a title above a two-row header with merged cells, numbers saved
as floats, dates as serial numbers, booleans, a formula's saved value, empty rows, a
second sheet — into a SCIM service (scim2-server), planned in process in every shape (in
memory, lean, spilled, scoped to keys, incremental, with a `where`), then applied: a
run after it plans nothing in any shape."""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any

import openpyxl
import pytest

from schemas.connections import ExcelConnection, ScimConnection, SecretRef
from schemas.jobs import Changes, Endpoint, FieldMap, Job, ObjectMapping, Safety
from services.runner.planning import PlannedRun
from services.runner.planning.reading import Reading
from tests.excel_files import save_values
from tests.scim_server import TOKEN, resources

from .test_scoped_reads import applied, plan_between
from .test_sql_matrix_typed import SHAPES, shaped, shown

ENTERPRISE = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"
OLD = dt.datetime(2026, 1, 1, 8, 30)


def workbook(path: Path, rows: list[list[Any]]) -> None:
    """Title row, a two-row header (`id` and `active` merged down, `Name` over two
    columns), the people, an empty row among them, a formula (=UPPER) for `dept`."""
    book: Any = openpyxl.Workbook()
    sheet = book.active
    sheet.title = "People"
    notes = book.create_sheet("Notes")
    notes.append(["exported by HR"])
    sheet.append(["HR export", None, None, None, None, None, None])
    sheet.append(["id", "Name", None, "active", "hired", "dept", "at"])
    sheet.append([None, "given", "family", None, None, None, None])
    sheet.merge_cells("A2:A3")
    sheet.merge_cells("B2:C2")
    sheet.merge_cells("D2:D3")
    sheet.merge_cells("E2:E3")
    sheet.merge_cells("F2:F3")
    sheet.merge_cells("G2:G3")
    saved = {}
    for row in rows:
        if row is None:
            sheet.append([])
            continue
        number, given, family, active, hired, dept, at = row
        sheet.append([number, given, family, active, hired, None, at])
        at_row = sheet.max_row
        sheet.cell(at_row, 6).value = f'=UPPER("{dept}")'
        saved[f"F{at_row}"] = dept.upper()
        sheet.cell(at_row, 5).number_format = "yyyy-mm-dd"
        sheet.cell(at_row, 7).number_format = "yyyy-mm-dd hh:mm"
    book.save(path)
    save_values(path, saved)


PEOPLE: list[Any] = [
    [1001, "Ada", "Lovelace", True, dt.date(2020, 3, 1), "research", OLD],
    None,
    [1002.0, "Grace", "Hopper", False, 43900, "navy", OLD],  # hired: a serial number
    [1003, "Alan", "Turing", 1, dt.datetime(2021, 6, 7), "math", OLD],
]


def the_job(where: Any = None, **more: Any) -> Job:
    return Job(
        id="sheet-to-scim",
        source=Endpoint(
            connection="books", file="hr.xlsx", sheet="People", header_row=3, where=where
        ),
        destination=Endpoint(connection="scim"),
        objects=[
            ObjectMapping(
                keys=["userName"],
                fields=[
                    FieldMap(to="userName", from_="id"),
                    FieldMap(to="externalId", from_="id"),
                    FieldMap(to="name.givenName", from_="given"),
                    FieldMap(to="name.familyName", from_="family"),
                    FieldMap(to="active"),
                    FieldMap(to="title", from_="hired"),
                    FieldMap(to=f"{ENTERPRISE}:department", from_="dept"),
                    FieldMap(to=f"{ENTERPRISE}:employeeNumber", from_="id"),
                ],
                on_destination_only="delete",
                **more,
            )
        ],
        changes=Changes(field="at"),
        safety=Safety(max_percent=100),
    )


KEYS = ["1001", "1002", "1003"]


async def plans(source: ExcelConnection, target: ScimConnection) -> dict[str, PlannedRun]:
    found = {}
    for shape in SHAPES:
        with shaped(shape):
            found[shape] = await plan_between(source, target, the_job(), None)
    found["keys"] = await plan_between(source, target, the_job(), KEYS)
    found["incremental"] = await plan_between(
        source, target, the_job(), None, Reading(incremental=True, since="2025-01-01T00:00:00")
    )
    found["where"] = await plan_between(
        source, target, the_job({"not": {"field": "id", "equals": "9"}}), None
    )
    found["no case"] = await plan_between(source, target, the_job(case_insensitive=True), None)
    return found


@pytest.fixture
def sides(scim_url: str, tmp_path: Path) -> tuple[ExcelConnection, ScimConnection]:
    workbook(tmp_path / "hr.xlsx", PEOPLE)
    (tmp_path / "token").write_text(TOKEN + "\n")
    target = ScimConnection(
        id="scim", url=scim_url, token=SecretRef(file=str(tmp_path / "token")), page_size=2
    )
    return ExcelConnection(id="books", directory=str(tmp_path)), target


async def test_a_messy_workbook_into_scim_then_nothing_in_every_shape(
    sides: tuple[ExcelConnection, ScimConnection], scim_url: str
) -> None:
    source, target = sides
    first = await plans(source, target)
    memory = shown(first["memory"])
    assert [c.split(" ")[:2] for c in memory] == [["create", k] for k in KEYS], memory
    for shape, planned in first.items():
        assert shown(planned) == memory, shape
        assert not planned.record_errors, (shape, planned.record_errors)
    outcomes, _ = await applied(source, target, the_job(), first["memory"].plan.changes)
    assert [o.error for o in outcomes] == [None] * 3
    users = {u["userName"]: u for u in resources(scim_url)}
    assert {k: (u.get("active"), u.get("title")) for k, u in users.items()} == {
        "1001": (True, "2020-03-01"),
        "1002": (False, "2020-03-10"),
        "1003": (True, "2021-06-07"),
    }
    assert users["1001"][ENTERPRISE] == {"department": "RESEARCH", "employeeNumber": "1001"}
    again = await plans(source, target)
    for shape, planned in again.items():
        assert shown(planned) == [], shape
