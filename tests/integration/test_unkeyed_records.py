"""A source record with values but an empty key leaves the objects missing from the
source alone (any of them could be its); a blank row is no such record — not even where
the job's transformations would give it a value of their own (a default, a static
text): the objects missing from the source are acted on as ever. Each case is planned
in memory, and as a large job is (low_memory.py: the destination read twice, creates
spilled to disk)."""

from __future__ import annotations

from pathlib import Path

import msgspec
import pytest

from core.run_texts import kept_warnings
from schemas.connections import CsvConnection, ExcelConnection
from schemas.jobs import Endpoint, FieldMap, Job, ObjectMapping, Safety
from services.runner.planning import low_memory
from tests.excel_files import workbook

from .test_scoped_reads import plan_between

LEFT_ALONE = "values but an empty key"


def why(records: int) -> str:
    """The warning that the one object missing from the source is left alone, for
    `records` without a key, and what to fix."""
    these = "1 source record has" if records == 1 else f"{records} source records have"
    they = "it" if records == 1 else "they"
    return (
        f"{these} values but an empty key (id): {they} could be the 1 destination object "
        "missing from the source, so none is deleted in this run; give each record a key "
        'in the source, or leave such records out of its scope: where = { field = "emp", '
        "empty = false }"
    )


@pytest.fixture(autouse=True, params=["in memory", "lean"])
def planned_as(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> None:
    if request.param == "lean":
        monkeypatch.setattr(low_memory, "LEAN_ABOVE", -1)  # even a small destination


def _job(*extra: FieldMap) -> Job:
    fields = [FieldMap(to="id", from_="emp"), FieldMap(to="name"), *extra]
    return Job(
        id="people",
        source=Endpoint(connection="hr", file="hr.csv"),
        destination=Endpoint(connection="dir", file="people.csv"),
        objects=[ObjectMapping(keys=["id"], fields=fields, on_destination_only="delete")],
        safety=Safety(max_percent=100),
    )


async def _plan(folder: Path, source: str, the_job: Job) -> tuple[list[tuple[str, str]], list[str]]:
    (folder / "hr.csv").write_text(source)
    (folder / "people.csv").write_text("id,name,company\ne1,Ada,ACME\ne9,Gone,ACME\n")
    hr = CsvConnection(id="hr", directory=str(folder))
    directory = CsvConnection(id="dir", directory=str(folder))
    planned = await plan_between(hr, directory, the_job, None)
    return [(c.action, c.key) for c in planned.plan.changes], planned.plan.warnings


async def test_a_blank_row_of_a_file_leaves_no_absent_object_alone_with_a_default(
    tmp_path: Path,
) -> None:
    company = FieldMap(to="company", transform={"default": "ACME"})
    changes, warnings = await _plan(tmp_path, "emp,name,company\ne1,Ada,\n,,\n", _job(company))
    assert changes == [("delete", "e9")]
    assert not [w for w in warnings if LEFT_ALONE in w]


async def test_a_row_of_spaces_leaves_no_absent_object_alone_with_a_static_text(
    tmp_path: Path,
) -> None:
    company = FieldMap(to="company", transform={"static": "ACME"})
    changes, warnings = await _plan(tmp_path, "emp,name\ne1,Ada\n  ,  \n", _job(company))
    assert changes == [("delete", "e9")]
    assert not [w for w in warnings if LEFT_ALONE in w]


async def test_a_row_with_a_value_but_no_key_still_leaves_absent_objects_alone(
    tmp_path: Path,
) -> None:
    company = FieldMap(to="company", transform={"static": "ACME"})
    changes, warnings = await _plan(tmp_path, "emp,name\ne1,Ada\n,Grace\n", _job(company))
    assert changes == []
    assert [w for w in warnings if LEFT_ALONE in w] == [why(1)]


async def test_why_absent_objects_are_left_alone_is_told_among_many_warnings(
    tmp_path: Path,
) -> None:
    """More records without a key than a plan lists warnings of: the one saying why
    nothing missing from the source is acted on is still there, with their number."""
    rows = "".join(f",Person {n}\n" for n in range(150))
    changes, warnings = await _plan(tmp_path, f"emp,name\ne1,Ada\n{rows}", _job())
    assert changes == []
    assert why(150) in warnings


async def test_why_absent_objects_are_left_alone_is_among_the_warnings_a_run_keeps(
    tmp_path: Path,
) -> None:
    """A run keeps its plan's first warnings (`job run --wait` shows those): the one
    saying why nothing missing from the source is acted on comes first, before warnings
    about single objects (here the destination's keys held twice)."""
    (tmp_path / "hr.csv").write_text("emp,name\ne1,Ada\n,Grace\n")
    twice = "".join(f"d{n},One\nd{n},Two\n" for n in range(30))
    (tmp_path / "people.csv").write_text(f"id,name\ne1,Ada\ne9,Gone\n{twice}")
    hr = CsvConnection(id="hr", directory=str(tmp_path))
    directory = CsvConnection(id="dir", directory=str(tmp_path))
    planned = await plan_between(hr, directory, _job(), None)
    kept, _ = kept_warnings(planned.plan.warnings)
    assert kept[0] == why(1)


async def test_a_blank_row_of_a_workbook_leaves_no_absent_object_alone_with_a_static_text(
    tmp_path: Path,
) -> None:
    """A sheet's row of spaces and empty cells below its records, the company a static text."""
    workbook(tmp_path / "hr.xlsx", [["emp", "name"], ["e1", "Ada"], ["  ", ""], [None, " "]])
    (tmp_path / "people.csv").write_text("id,name,company\ne1,Ada,ACME\ne9,Gone,ACME\n")
    company = FieldMap(to="company", transform={"static": "ACME"})
    the_job = msgspec.structs.replace(
        _job(company), source=Endpoint(connection="hr", file="hr.xlsx")
    )
    hr = ExcelConnection(id="hr", directory=str(tmp_path))
    directory = CsvConnection(id="dir", directory=str(tmp_path))
    planned = await plan_between(hr, directory, the_job, None)
    assert [(c.action, c.key) for c in planned.plan.changes] == [("delete", "e9")]
    assert not [w for w in planned.plan.warnings if LEFT_ALONE in w]


async def test_the_where_the_warning_gives_leaves_the_records_without_a_key_out(
    tmp_path: Path,
) -> None:
    where = {"field": "emp", "empty": False}
    the_job = _job()
    the_job = msgspec.structs.replace(
        the_job, source=msgspec.structs.replace(the_job.source, where=where)
    )
    changes, warnings = await _plan(tmp_path, "emp,name\ne1,Ada\n,Grace\n", the_job)
    assert changes == [("delete", "e9")]
    assert warnings == []
