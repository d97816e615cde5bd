"""An Excel sheet as a destination whose job compares keys without case: a row whose key
the source spells in another case is that record's row — updated, disabled (marked) or
deleted in place, in every shape — and a run after it plans nothing."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import openpyxl
import pytest

from schemas.connections import ExcelConnection, SqliteConnection
from schemas.jobs import Endpoint, FieldMap, Job, ObjectMapping, Safety
from services.runner.planning import PlannedRun

from .test_scoped_reads import applied, plan_between, table
from .test_sql_matrix_typed import SHAPES, shaped, shown


def the_job(action: str) -> Job:
    return Job(
        id="to-sheet",
        source=Endpoint(connection="hr", table="hr"),
        destination=Endpoint(connection="books", file="people.xlsx"),
        objects=[
            ObjectMapping(
                keys=["id"],
                fields=[FieldMap(to="id"), FieldMap(to="dept")],
                on_destination_only=action,  # type: ignore[arg-type]
                case_insensitive=True,
            )
        ],
        safety=Safety(max_percent=100),
    )


async def plans(
    source: SqliteConnection, target: ExcelConnection, action: str, keys: list[str]
) -> dict[str, PlannedRun]:
    found = {}
    for shape in SHAPES:
        with shaped(shape):
            found[shape] = await plan_between(source, target, the_job(action), None)
    found["keys"] = await plan_between(source, target, the_job(action), keys)
    return found


def rows_of(path: Path) -> list[list[Any]]:
    sheet: Any = openpyxl.load_workbook(path).active
    return [[c.value for c in row] for row in sheet.iter_rows()]


@pytest.mark.parametrize("action", ["delete", "disable"])
async def test_rows_keyed_in_another_case_are_the_records_rows(tmp_path: Path, action: str) -> None:
    book: Any = openpyxl.Workbook()
    for row in (["id", "dept"], ["ann", "Sales"], ["bob", "Sales"], ["Cy", "Sales"]):
        book.active.append(row)
    book.save(tmp_path / "people.xlsx")
    table(tmp_path / "hr.db", "hr", ["id", "dept"], [("ANN", "Legal"), ("Bob", "Sales")])
    source = SqliteConnection(id="hr", path=str(tmp_path / "hr.db"))
    target = ExcelConnection(id="books", directory=str(tmp_path))
    first = await plans(source, target, action, ["ANN", "Bob", "cy"])
    memory = [c.split(" ")[:2] for c in shown(first["memory"])]
    assert memory == [[action, "Cy"], ["update", "ann"], ["update", "bob"]], memory
    for shape, planned in first.items():
        if shape == "keys":  # absence left alone
            assert [c.split(" ")[:2] for c in shown(planned)] == memory[1:], shape
        else:
            assert shown(planned) == shown(first["memory"]), shape
    outcomes, _ = await applied(source, target, the_job(action), first["memory"].plan.changes)
    assert [o.error for o in outcomes] == [None, None, None]
    again = await plans(source, target, action, ["ANN", "Bob", "cy"])
    # (Planned here without the runs' memory of what they disabled: a disable again.)
    left = ["disable Cy [] []"] if action == "disable" else []
    for shape, planned in again.items():
        assert shown(planned) == (left if shape != "keys" else []), (shape, shown(planned))
    found = rows_of(tmp_path / "people.xlsx")
    assert found[1][1] == "Legal", found
    assert [r[0] for r in found][:3] == ["id", "ANN", "Bob"], found
    assert len(found) == (3 if action == "delete" else 4), found
