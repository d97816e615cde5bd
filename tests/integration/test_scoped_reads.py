"""Runs scoped to some keys read only those records where a side can look them up — and
plan exactly what reading both sides whole would have planned, in every job shape.

Each case plans the same job twice over real SQLite tables: once as a run does, once
with the lookups turned off (both sides read whole), and compares the plans, their
hashes and their failed records; then checks which sides were read whole.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import msgspec
import pytest

from schemas.connections import Connection, SqliteConnection
from schemas.jobs import Endpoint, FieldMap, Job, Leavers, ObjectMapping, ObjectScope
from schemas.plan import Change
from schemas.values import Record
from services.providers.base import Outcome
from services.runner.planning import PlannedRun, Sides, plan_job, scoped
from services.runner.planning.reading import Reading
from services.runner.planning.sides import open_pair
from tests.sql_servers import read_all

PEOPLE = [
    ("e1", "Ada", "Engineering", "active"),
    ("e2", "Grace", "Research", "active"),
    ("e3", "Alan", "Research", "left"),
    ("E4", "Edsger", "Engineering", "active"),
]
KEY_AND_NAME = [FieldMap(to="id", from_="emp"), FieldMap(to="name")]


def table(path: Path, name: str, columns: Sequence[str], rows: Sequence[Sequence[Any]]) -> None:
    db = sqlite3.connect(path)
    with db:
        db.execute(f"CREATE TABLE {name} ({', '.join(columns)})")
        marks = ", ".join("?" * len(columns))
        db.executemany(f"INSERT INTO {name} VALUES ({marks})", rows)
    db.close()


@pytest.fixture
def hr(tmp_path: Path) -> Path:
    """The source: people, their department and status; the destination: three of them,
    one with another department."""
    path = tmp_path / "hr.db"
    table(path, "hr", ["emp", "name", "dept", "status"], PEOPLE)
    existing = [("e1", "Ada", "Engineering"), ("e2", "Grace", "Sales"), ("e3", "Alan", "Research")]
    table(tmp_path / "dir.db", "people", ["id", "name", "dept"], existing)
    return tmp_path


def job(mapping: ObjectMapping, source_scope: str | None = None) -> Job:
    return Job(
        id="scoped",
        source=Endpoint(connection="hr", table="hr", query=source_scope),
        destination=Endpoint(connection="dir", table="people"),
        objects=[mapping],
    )


async def plan(folder: Path, the_job: Job, keys: list[str]) -> PlannedRun:
    source_db = SqliteConnection(id="hr", path=str(folder / "hr.db"))
    target_db = SqliteConnection(id="dir", path=str(folder / "dir.db"))
    return await plan_between(source_db, target_db, the_job, keys)


async def plan_between(
    source_db: Connection,
    target_db: Connection,
    the_job: Job,
    keys: list[str] | None,
    reading: Reading | None = None,
    **patched: Any,
) -> PlannedRun:
    """The job planned as a run plans it: each type's pair of sides opened (`patched`:
    attributes of the sources set first), then closed."""
    pairs = [open_pair(source_db, target_db, the_job, at) for at in range(len(the_job.objects))]
    for source, target in pairs:
        for name, value in patched.items():
            setattr(source, name, value)
        await source.open(write=False)
        await target.open(write=True)
    try:
        [(source, target), *others] = pairs
        return await plan_job(the_job, Sides(source, target, others), keys, reading=reading)
    finally:
        for source, target in pairs:
            await source.close()
            await target.close()


async def applied(
    source_db: Connection, target_db: Connection, the_job: Job, changes: Sequence[Change]
) -> tuple[list[Outcome], list[Record]]:
    """The changes applied to the job's (first type's) destination, with every record
    it holds then."""
    target = open_pair(source_db, target_db, the_job, 0)[1]
    await target.open(write=True)
    try:
        outcomes = await target.apply(list(changes))
        return outcomes, await read_all(target)
    finally:
        await target.close()


async def both_ways(
    folder: Path, the_job: Job, keys: list[str], monkeypatch: pytest.MonkeyPatch
) -> tuple[PlannedRun, PlannedRun]:
    """The plan as a run makes it, and the plan with both sides read whole."""
    looked_up = await plan(folder, the_job, keys)
    with monkeypatch.context() as patched:
        patched.setattr(scoped, "source_lookup", lambda *_: None)
        patched.setattr(scoped, "destination_lookup", lambda *_: None)
        whole = await plan(folder, the_job, keys)
    assert looked_up.plan.hash == whole.plan.hash
    assert looked_up.plan.changes == whole.plan.changes
    assert looked_up.plan.counts == whole.plan.counts
    assert looked_up.record_errors == whole.record_errors
    return looked_up, whole


def sides_read(planned: PlannedRun) -> tuple[int, int]:
    return planned.source_records, planned.destination_records


DEPT = FieldMap(to="dept")
SHAPES: dict[str, tuple[ObjectMapping, list[str], tuple[int, int], list[str]]] = {
    # (mapping, keys asked for, records read from (source, destination), the plan)
    "an update: both sides looked up": (
        ObjectMapping(keys=["id"], fields=[*KEY_AND_NAME, DEPT]),
        ["e2"],
        (1, 1),
        ["update e2"],
    ),
    "two keys, both found": (
        ObjectMapping(keys=["id"], fields=[*KEY_AND_NAME, DEPT]),
        ["e1", "e2"],
        (2, 2),
        ["update e2"],
    ),
    "a create: no object holds its key, none is read": (
        ObjectMapping(keys=["id"], fields=[*KEY_AND_NAME, DEPT]),
        ["E4"],
        (1, 0),
        ["create E4"],
    ),
    "a key found nowhere: the source read whole, no object read": (
        ObjectMapping(keys=["id"], fields=[*KEY_AND_NAME, DEPT]),
        ["nobody"],
        (4, 0),
        [],
    ),
    "a key with spaces around it is asked for as the run compares it": (
        ObjectMapping(keys=["id"], fields=[*KEY_AND_NAME, DEPT]),
        ["  e2 "],
        (1, 1),
        ["update e2"],
    ),
    "a transformed key: the source read whole": (
        ObjectMapping(
            keys=["id"],
            fields=[FieldMap(to="id", from_="emp", transform="lower"), FieldMap(to="name"), DEPT],
        ),
        ["e2"],
        (4, 1),
        ["update e2"],
    ),
    "keys without case: both sides read whole": (
        ObjectMapping(keys=["id"], case_insensitive=True, fields=[*KEY_AND_NAME, DEPT]),
        ["e4"],
        (4, 3),
        ["create E4"],
    ),
    "a unique field: the destination read whole": (
        ObjectMapping(keys=["id"], fields=[*KEY_AND_NAME, FieldMap(to="dept", unique=True)]),
        ["E4"],
        (1, 3),
        ["create E4"],
    ),
    "leavers: the destination read whole, the leaver deleted": (
        ObjectMapping(
            keys=["id"],
            fields=[*KEY_AND_NAME, DEPT],
            leavers=Leavers(when={"field": "status", "equals": "left"}, action="delete"),
        ),
        ["e3"],
        (1, 3),
        ["delete e3"],
    ),
    "every field copied: the source read whole": (
        ObjectMapping(keys=["emp"]),
        ["e2"],
        (4, 3),
        ["create e2"],
    ),
}


@pytest.mark.parametrize("shape", list(SHAPES))
async def test_a_scoped_run_plans_what_reading_both_sides_whole_plans(
    hr: Path, shape: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    mapping, keys, read, planned = SHAPES[shape]
    looked_up, whole = await both_ways(hr, job(mapping), keys, monkeypatch)
    assert [f"{c.action} {c.key}" for c in looked_up.plan.changes] == planned
    assert sides_read(looked_up) == read
    assert sides_read(whole) == (len(PEOPLE), 3)


async def test_a_record_the_source_scope_leaves_out_is_left_out_as_before(
    hr: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    mapping = ObjectMapping(keys=["id"], fields=[*KEY_AND_NAME, DEPT])
    the_job = job(mapping, source_scope="dept <> 'Research'")
    looked_up, _ = await both_ways(hr, the_job, ["e2"], monkeypatch)
    assert looked_up.plan.changes == []


async def test_a_key_stored_as_a_number_is_found_in_its_other_spelling(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The destination keeps "042" as 42: the source row holds 042, the run asks for 42."""
    table(tmp_path / "hr.db", "hr", ["emp", "name", "dept", "status"], [("042", "Ada", "R", "")])
    table(tmp_path / "dir.db", "people", ["id INTEGER", "name", "dept"], [(42, "Ada", "S")])
    mapping = ObjectMapping(keys=["id"], fields=[*KEY_AND_NAME, DEPT])
    looked_up, _ = await both_ways(tmp_path, job(mapping), ["42"], monkeypatch)
    [change] = looked_up.plan.changes
    assert (change.action, change.key, change.set) == ("update", "42", {"dept": "R"})


async def test_a_record_that_fails_its_mapping_fails_as_in_a_whole_read(
    hr: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    mapping = ObjectMapping(
        keys=["id"],
        fields=[*KEY_AND_NAME, FieldMap(to="dept", transform={"map": {"Research": "R&D"}})],
    )
    looked_up, _ = await both_ways(hr, job(mapping), ["e1"], monkeypatch)
    assert [(e.key, e.action) for e in looked_up.record_errors] == [("e1", "map")]
    assert looked_up.plan.changes == []


@pytest.fixture
def hr_and_groups(hr: Path) -> Path:
    """Besides the people: the source's groups, and the destination's (one renamed)."""
    groups = [("g1", "Engineering"), ("g2", "Research"), ("g3", "Sales")]
    table(hr / "hr.db", "hr_groups", ["gid", "title"], groups)
    table(hr / "dir.db", "groups", ["id", "title"], [("g1", "Engineering"), ("g2", "R&D")])
    return hr


GROUPS = ObjectMapping(
    type="group",
    keys=["id"],
    fields=[FieldMap(to="id", from_="gid"), FieldMap(to="title")],
    source=ObjectScope(table="hr_groups"),
    destination=ObjectScope(table="groups"),
)
TYPES: dict[str, tuple[list[str], list[str], tuple[int, int]]] = {
    # (keys asked for, the plan, records read from (source, destination) of both types)
    "a user's key: the groups' source finds it nowhere and is read whole": (
        ["e2"],
        ["update e2"],
        (1 + 3, 1 + 0),
    ),
    "a group's key: the users' source finds it nowhere and is read whole": (
        ["g2"],
        ["update g2"],
        (4 + 1, 0 + 1),
    ),
    "a new group and a user: each source read whole, only e1's object read": (
        ["g3", "e1"],
        ["create g3"],
        (4 + 3, 1 + 0),
    ),
}


@pytest.mark.parametrize("case", list(TYPES))
async def test_a_scoped_run_of_several_types_plans_what_reading_whole_plans(
    hr_and_groups: Path, case: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    keys, planned, read = TYPES[case]
    users = ObjectMapping(keys=["id"], fields=[*KEY_AND_NAME, DEPT])
    the_job = msgspec.structs.replace(job(users), objects=[users, GROUPS])
    looked_up, whole = await both_ways(hr_and_groups, the_job, keys, monkeypatch)
    assert sorted(f"{c.action} {c.key}" for c in looked_up.plan.changes) == planned
    assert sides_read(looked_up) == read
    assert sides_read(whole) == (len(PEOPLE) + 3, 3 + 2)
