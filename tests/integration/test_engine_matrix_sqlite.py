"""A SQLite destination scoped by a `query`: a record whose row would lie outside it
fails alone, in every shape of job, instead of being written where no run finds it —
each run creating it again ("1 created", forever), or writing over a row of the table
that is not the job's."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import msgspec
import pytest

from schemas.connections import SqliteConnection
from schemas.jobs import Endpoint, Job, ObjectMapping
from services.runner.planning.reading import Reading

from .test_failure_points import spilled_if
from .test_fast_path_mixes import lean_if
from .test_scoped_reads import applied, plan_between, table

SHAPES = ["whole", "little memory", "spilled", "scoped to keys"]


def sides(folder: Path, query: str) -> tuple[SqliteConnection, SqliteConnection, Job]:
    mapping = {
        "type": "user",
        "keys": ["id"],
        "on_destination_only": "delete",
        "fields": [{"to": "id"}, {"to": "dept", "transform": "title"}, {"to": "mail"}],
    }
    job = Job(
        id="sales",
        source=Endpoint(connection="hr", table="hr"),
        destination=Endpoint(connection="dir", table="people", query=query),
        objects=[msgspec.convert(mapping, ObjectMapping)],
    )
    source = SqliteConnection(id="hr", path=str(folder / "hr.db"))
    return source, SqliteConnection(id="dir", path=str(folder / "dir.db")), job


@pytest.mark.parametrize("shape", SHAPES)
async def test_a_record_whose_row_lies_outside_the_destinations_query_fails_alone(
    tmp_path: Path, shape: str
) -> None:
    """The job keeps the Sales rows of a shared table. E2 moved to Finance and E9 is
    Finance's: neither is written (E9's row is not the job's), each fails naming the
    query; E1 is created, E3 (gone from the source) deleted, and the next run plans
    nothing but the same two failures."""
    rows = [("E1", "sales", "a@x"), ("E2", "finance", "b@x"), ("E9", "finance", "z@x")]
    table(tmp_path / "hr.db", "hr", ["id", "dept", "mail"], rows)
    existing = [("E2", "Sales", "b@x"), ("E3", "Sales", "c@x"), ("E9", "Finance", "y@x")]
    table(tmp_path / "dir.db", "people", ["id TEXT PRIMARY KEY", "dept", "mail"], existing)
    source, target, job = sides(tmp_path, "dept = 'Sales'")
    keys = ["E1", "E2", "E3", "E9"] if shape == "scoped to keys" else None
    with lean_if(shape in ("little memory", "spilled")), spilled_if(shape == "spilled"):
        first = await plan_between(source, target, job, keys, Reading())
        changes = sorted((c.action, c.key) for c in first.plan.changes)
        assert changes == [("create", "E1")] + ([("delete", "E3")] if keys is None else [])
        failed = {e.key: e.message for e in first.record_errors}
        assert sorted(failed) == ["E2", "E9"]
        assert "outside the destination's query (dept = 'Sales')" in failed["E2"]
        await applied(source, target, job, first.plan.changes)
        again = await plan_between(source, target, job, keys, Reading())
        assert again.plan.changes == []
        assert sorted(e.key for e in again.record_errors) == ["E2", "E9"]
    db = sqlite3.connect(tmp_path / "dir.db")
    left = [("E3", "Sales", "c@x")] if keys is not None else []  # a run for keys deletes none
    assert sorted(db.execute("SELECT * FROM people")) == [
        ("E1", "Sales", "a@x"),
        ("E2", "Sales", "b@x"),
        *left,
        ("E9", "Finance", "y@x"),
    ]
    db.close()


async def test_a_query_naming_a_column_the_job_does_not_write_is_not_judged(
    tmp_path: Path,
) -> None:
    """Whether a row lies in the query's scope is judged only where the job writes every
    column the query names: here `region` is the table's own, so E1 is created."""
    table(tmp_path / "hr.db", "hr", ["id", "dept", "mail"], [("E1", "finance", "a@x")])
    table(tmp_path / "dir.db", "people", ["id", "dept", "mail", "region"], [])
    source, target, job = sides(tmp_path, "region IS NULL OR region = 'EU'")
    planned = await plan_between(source, target, job, None, Reading())
    assert [(c.action, c.key) for c in planned.plan.changes] == [("create", "E1")]
    assert planned.record_errors == []


async def test_a_run_for_a_whole_key_looks_its_rows_up_and_writes_that_one(
    tmp_path: Path,
) -> None:
    """Between SQLite tables, whose rows a run for some keys looks up by the first key:
    asked for "E1 / Sales", the run reads E1's rows and updates that one alone."""
    rows = [("E1", "Sales", "new@x"), ("E1", "Finance", "new@x")]
    table(tmp_path / "hr.db", "hr", ["id", "dept", "mail"], rows)
    existing = [("E1", "Sales", "a@x"), ("E1", "Finance", "b@x")]
    table(tmp_path / "dir.db", "people", ["id", "dept", "mail"], existing)
    mapping = {"keys": ["id", "dept"], "fields": [{"to": "id"}, {"to": "dept"}, {"to": "mail"}]}
    job = Job(
        id="people",
        source=Endpoint(connection="hr", table="hr"),
        destination=Endpoint(connection="dir", table="people"),
        objects=[msgspec.convert(mapping, ObjectMapping)],
    )
    source, target, _ = sides(tmp_path, "")
    planned = await plan_between(source, target, job, ["E1 / Sales"], Reading())
    assert [(c.action, c.key, c.set) for c in planned.plan.changes] == [
        ("update", "E1 / Sales", {"mail": "new@x"})
    ]
    assert planned.plan.warnings == []


@pytest.mark.parametrize("shape", SHAPES)
async def test_a_delete_or_an_update_leaves_the_rows_outside_the_query_alone(
    tmp_path: Path, shape: str
) -> None:
    """Sales and Finance share a table, one row per person and department; the job keeps
    the Sales rows (`query`). E1 leaves Sales, E2's mail changes: E1's and E2's Finance
    rows are not the job's — neither deleted nor written."""
    table(tmp_path / "hr.db", "hr", ["id", "dept", "mail"], [("E2", "sales", "new@x")])
    existing = [("E1", "Sales", "a"), ("E1", "Finance", "b"), ("E2", "Sales", "c")]
    existing += [("E2", "Finance", "d")]
    table(tmp_path / "dir.db", "people", ["id", "dept", "mail"], existing)
    source, target, job = sides(tmp_path, "dept = 'Sales'")
    keys = ["E1", "E2"] if shape == "scoped to keys" else None
    with lean_if(shape in ("little memory", "spilled")), spilled_if(shape == "spilled"):
        planned = await plan_between(source, target, job, keys, Reading())
        outcomes, _ = await applied(source, target, job, planned.plan.changes)
    assert [o.error for o in outcomes] == [None] * len(outcomes)
    db = sqlite3.connect(tmp_path / "dir.db")
    left = [("E1", "Sales", "a")] if keys is not None else []  # a run for keys deletes none
    assert sorted(db.execute("SELECT * FROM people")) == sorted(
        [*left, ("E1", "Finance", "b"), ("E2", "Finance", "d"), ("E2", "Sales", "new@x")]
    )
    db.close()


async def test_a_create_whose_key_a_row_outside_the_query_holds_fails(tmp_path: Path) -> None:
    """E9 joins Sales while Finance's row holds E9 in a table keyed on the person: the
    create fails, naming the table's refusal, and Finance's row stays as it was."""
    table(tmp_path / "hr.db", "hr", ["id", "dept", "mail"], [("E9", "sales", "z@x")])
    columns = ["id TEXT PRIMARY KEY", "dept", "mail"]
    table(tmp_path / "dir.db", "people", columns, [("E9", "Finance", "y@x")])
    source, target, job = sides(tmp_path, "dept = 'Sales'")
    planned = await plan_between(source, target, job, None, Reading())
    assert [(c.action, c.key) for c in planned.plan.changes] == [("create", "E9")]
    outcomes, _ = await applied(source, target, job, planned.plan.changes)
    assert outcomes[0].error is not None and "UNIQUE" in outcomes[0].error
    db = sqlite3.connect(tmp_path / "dir.db")
    assert list(db.execute("SELECT * FROM people")) == [("E9", "Finance", "y@x")]
    db.close()
