"""Where a record fails, its object stays as it is: a failure never looks like absence.

Each case plans a job over real SQLite tables as a run (and its preview) plans it, with
something failing on the way — a reference that resolves to nothing or to two objects,
a transformation of one record, of every record of a type, of a record's key — in each
shape of job (one type or several, in memory or in little memory, scoped to keys,
incremental), and checks that nothing failed is taken away: no object deleted, no
value cleared, no member removed, because of it.
"""

from __future__ import annotations

import contextlib
import sqlite3
from collections.abc import AsyncIterator, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import msgspec
import openpyxl
import pytest

from core.engine.keys import DuplicateKey
from core.engine.lifecycle import Lifecycle
from core.errors import BadInput, Transient
from schemas.connections import ExcelConnection, SqliteConnection
from schemas.jobs import (
    Changes,
    Endpoint,
    FieldMap,
    Job,
    ObjectMapping,
    ObjectScope,
    Resolve,
    Safety,
)
from schemas.values import Binary, Record
from services.providers.sqlite.read import SqliteReading
from services.runner.planning import PlannedRun, spill
from services.runner.planning.reading import Reading

from .test_fast_path_mixes import lean_if
from .test_scoped_reads import plan_between, table


async def plan(folder: Path, the_job: Job, keys: list[str] | None = None) -> PlannedRun:
    source = SqliteConnection(id="hr", path=str(folder / "hr.db"))
    target = SqliteConnection(id="dir", path=str(folder / "dir.db"))
    return await plan_between(source, target, the_job, keys, Reading())


@contextlib.contextmanager
def spilled_if(spilled: bool) -> Iterator[None]:
    """The creates of the low-memory path kept on disk, a run of one at a time."""
    with pytest.MonkeyPatch.context() as small:
        if spilled:
            small.setattr(spill, "RUN_SIZE", 1)
        yield


def shown(planned: PlannedRun) -> list[str]:
    return sorted(f"{c.action} {c.key}" for c in planned.plan.changes)


# References: a manager and a group's members, looked up by mail.
USERS = ObjectMapping(
    type="user",
    keys=["id"],
    fields=[
        FieldMap(to="id", from_="emp"),
        FieldMap(to="mail"),
        FieldMap(to="boss", resolve=Resolve(type="user", by="mail")),
    ],
    on_destination_only="delete",
)
GROUPS = ObjectMapping(
    type="group",
    keys=["id"],
    fields=[
        FieldMap(to="id", from_="gid"),
        FieldMap(to="members", delimiter="|", resolve=Resolve(type="user", by="mail")),
    ],
    source=ObjectScope(table="hr_groups"),
    destination=ObjectScope(table="groups"),
    on_destination_only="delete",
)


def referring(folder: Path, u1_mail: str = "a@x", u2_mail: str = "b@x") -> Job:
    """In the destination u1 (a@x) manages u3 and is in g1 with u3; in the source u1's
    mail is `u1_mail`, u2's `u2_mail`, and u3's manager and g1's members are named by
    u1's mail in the source."""
    people = [("u1", u1_mail, ""), ("u2", u2_mail, ""), ("u3", "c@x", u1_mail)]
    table(folder / "hr.db", "hr", ["emp", "mail", "boss"], people)
    table(folder / "hr.db", "hr_groups", ["gid", "members"], [("g1", f"{u1_mail}|c@x")])
    objects = [("u1", "a@x", None), ("u2", "b@x", None), ("u3", "c@x", "u1")]
    table(folder / "dir.db", "people", ["id", "mail", "boss"], objects)
    table(folder / "dir.db", "groups", ["id", "members"], [("g1", "u1|u3")])
    return Job(
        id="failures",
        source=Endpoint(connection="hr", table="hr"),
        destination=Endpoint(connection="dir", table="people"),
        objects=[USERS, GROUPS],
        safety=Safety(max_percent=100),
    )


@pytest.mark.parametrize("keys", [None, ["u2", "u3", "g1"]], ids=["full", "key-scoped"])
async def test_a_reference_that_finds_two_objects_keeps_the_value_it_had(
    tmp_path: Path, keys: list[str] | None
) -> None:
    # u2's mail is now u1's too: "a@x" names two users, so u3's manager and g1's member
    # u1 cannot be told; neither is cleared nor removed, both are reported.
    the_job = referring(tmp_path, u2_mail="a@x")
    planned = await plan(tmp_path, the_job, keys)
    references = [c for c in planned.plan.changes if c.phase == "references"]
    assert references == [], "a value that did not resolve was cleared or removed"
    assert sorted((e.key, e.message) for e in planned.record_errors) == [
        ("g1", "members: several user objects have mail 'a@x'; none is used"),
        ("u3", "boss: several user objects have mail 'a@x'; none is used"),
    ]


async def test_a_reference_to_an_object_whose_record_failed_keeps_the_value_it_had(
    tmp_path: Path,
) -> None:
    # u1's new mail fails its transformation: its object keeps its old one, which the
    # source no longer names; so the new one names nothing, and u3's manager and g1's
    # member u1 stay as they are (reported), not cleared or removed for u1's failure.
    the_job = referring(tmp_path, u1_mail="ada@x")
    mail = FieldMap(to="mail", transform={"map": {"b@x": "b@x", "c@x": "c@x"}})
    users = msgspec.structs.replace(USERS, fields=[USERS.fields[0], mail, USERS.fields[2]])
    the_job = msgspec.structs.replace(the_job, objects=[users, GROUPS])
    planned = await plan(tmp_path, the_job)
    assert [c for c in planned.plan.changes if c.phase == "references"] == []
    assert sorted((e.key, e.action) for e in planned.record_errors) == [
        ("g1", "resolve"),
        ("u1", "map"),
        ("u3", "resolve"),
    ]


async def test_values_that_resolve_are_added_beside_one_that_does_not(tmp_path: Path) -> None:
    # g1 gains u2 (found) while naming one mail that finds nothing: u2 is added, no
    # member is removed.
    the_job = referring(tmp_path)
    with sqlite3.connect(tmp_path / "hr.db") as db:
        db.execute("UPDATE hr_groups SET members = 'b@x|nobody@x|c@x'")
    db.close()
    planned = await plan(tmp_path, the_job)
    [change] = [c for c in planned.plan.changes if c.phase == "references"]
    # (a table's column holds the list: written whole)
    assert (change.key, change.set) == ("g1", {"members": ["u1", "u3", "u2"]})
    assert [(e.key, e.action) for e in planned.record_errors] == [("g1", "resolve")]


async def test_a_run_scoped_to_keys_keeps_a_reference_to_an_object_out_of_its_scope(
    tmp_path: Path,
) -> None:
    # u1's mail changed in the source, but a run scoped to u3 does not update u1: the new
    # mail names nothing yet, and u3 keeps its manager (reported) rather than lose it.
    the_job = referring(tmp_path, u1_mail="ada@x")
    planned = await plan(tmp_path, the_job, ["u3"])
    assert shown(planned) == []
    assert [(e.key, e.action) for e in planned.record_errors] == [("u3", "resolve")]


async def test_a_reference_to_an_object_this_run_deletes_is_let_go(tmp_path: Path) -> None:
    # u1 left the source (deleted by this run) while u3's manager and g1 still name it:
    # not a failure, an absence: u3's manager is cleared, u1 leaves g1 (both reported).
    the_job = referring(tmp_path)
    with sqlite3.connect(tmp_path / "hr.db") as db:
        db.execute("DELETE FROM hr WHERE emp = 'u1'")
    db.close()
    planned = await plan(tmp_path, the_job)
    assert shown(planned) == ["delete u1", "update g1", "update u3"]
    changed = {c.key: c for c in planned.plan.changes if c.phase == "references"}
    assert changed["u3"].clear == ("boss",)
    assert changed["g1"].set == {"members": ["u3"]}
    assert sorted((e.key, e.action) for e in planned.record_errors) == [
        ("g1", "resolve"),
        ("u3", "resolve"),
    ]


# A transformation that fails — one record's, a key's, every record's of a type — in
# each shape of job.
DEPARTMENTS = {"map": {"Sales": "S", "IT": "I"}}  # no entry: the record fails
SHAPES = [
    "in-memory",
    "lean",
    "spilled",
    "several",
    "key-scoped",
    "incremental",
    "incremental-lean",
]
FAILING = ["one record", "a key", "every record"]


def people_and_objects(folder: Path, failing: str) -> None:
    """Source: e1 (changed), e2 (changed, fails as `failing` says), e3, e5 (new); destination:
    e1…e3, and e4, absent from the source. Groups: g1 in both, g3 new, g2 only in
    the destination."""
    dept = "Legal" if failing != "a key" else "IT"
    emp = "x2" if failing == "a key" else "e2"
    people = [("e1", "IT", "2"), (emp, dept, "2"), ("e3", "Sales", "0"), ("e5", "IT", "2")]
    if failing == "every record":
        people = [(e, "Legal", at) for e, _, at in people]
    table(folder / "hr.db", "hr", ["emp", "dept", "at"], people)
    groups = [("g1", "One", "1"), ("g3", "Three", "1")]
    table(folder / "hr.db", "hr_groups", ["gid", "title", "at"], groups)
    objects = [("e1", "S"), ("e2", "S"), ("e3", "S"), ("e4", "S")]
    table(folder / "dir.db", "people", ["id", "dept"], objects)
    table(folder / "dir.db", "groups", ["id", "title"], [("g1", "One"), ("g2", "Two")])


def failing_job(shape: str) -> Job:
    key = {"map": {f"e{n}": f"e{n}" for n in range(1, 6)}}  # x2 has no entry: its key fails
    users = ObjectMapping(
        type="user",
        keys=["id"],
        fields=[
            FieldMap(to="id", from_="emp", transform=key),
            FieldMap(to="dept", transform=DEPARTMENTS),
        ],
        on_destination_only="delete",
    )
    groups = ObjectMapping(
        type="group",
        keys=["id"],
        fields=[FieldMap(to="id", from_="gid"), FieldMap(to="title")],
        source=ObjectScope(table="hr_groups"),
        destination=ObjectScope(table="groups"),
        on_destination_only="delete",
    )
    return Job(
        id="failures",
        source=Endpoint(connection="hr", table="hr"),
        destination=Endpoint(connection="dir", table="people"),
        objects=[users, groups] if shape == "several" else [users],
        changes=Changes(field="at") if shape.startswith("incremental") else None,
        safety=Safety(max_percent=100),
    )


@pytest.mark.parametrize("failing", FAILING)
@pytest.mark.parametrize("shape", SHAPES)
async def test_a_failed_transformation_never_deletes_in_any_shape(
    tmp_path: Path, shape: str, failing: str
) -> None:
    people_and_objects(tmp_path, failing)
    the_job = failing_job(shape)
    keys = ["e1", "e2", "e3", "e4", "e5"] if shape == "key-scoped" else None
    reading = Reading(incremental=True, since="1") if shape.startswith("incremental") else Reading()
    source = SqliteConnection(id="hr", path=str(tmp_path / "hr.db"))
    target = SqliteConnection(id="dir", path=str(tmp_path / "dir.db"))
    with lean_if(shape in ("lean", "spilled", "incremental-lean")), spilled_if(shape == "spilled"):
        planned = await plan_between(source, target, the_job, keys, reading)
    deleted = sorted(c.key for c in planned.plan.changes if c.action == "delete")
    failed = sorted(e.key for e in planned.record_errors)
    acts_on_absence = shape in ("in-memory", "lean", "spilled", "several")
    if failing == "a key":
        # x2's key fails: it could be any user, so no user is taken for absent (the
        # groups' absence is their own); a run scoped to keys does not report it
        assert failed == ([] if shape == "key-scoped" else ["x2"])
        assert deleted == (["g2"] if shape == "several" else [])
        if acts_on_absence:
            assert any("without a key that can be read" in w for w in planned.plan.warnings)
        return
    expected = {"one record": ["e2"], "every record": ["e1", "e2", "e3", "e5"]}[failing]
    if shape.startswith("incremental") and failing == "every record":
        expected = ["e1", "e2", "e5"]  # e3 did not change: not read
    assert failed == expected
    gone = ["e4"] if acts_on_absence else []
    assert deleted == gone + (["g2"] if shape == "several" else [])


async def test_a_key_whose_formula_failed_in_a_workbook_fails_the_run(tmp_path: Path) -> None:
    # e2's id is a formula that failed (#N/A): read as that text, e2's object would be
    # deleted and an object "#N/A" created; the run fails naming the cell instead.
    book: Any = openpyxl.Workbook()
    book.active.title = "hr"
    for row in (["emp", "dept"], ["e1", "IT"], ["#N/A", "IT"], ["e3", "IT"]):
        book.active.append(row)
    book.save(tmp_path / "hr.xlsx")
    table(tmp_path / "dir.db", "people", ["id", "dept"], [("e1", "I"), ("e2", "I"), ("e3", "I")])
    the_job = Job(
        id="failures",
        source=Endpoint(connection="hr", file="hr.xlsx", sheet="hr"),
        destination=Endpoint(connection="dir", table="people"),
        objects=[
            ObjectMapping(
                keys=["id"],
                fields=[FieldMap(to="id", from_="emp"), FieldMap(to="dept")],
                on_destination_only="delete",
            )
        ],
        safety=Safety(max_percent=100),
    )
    source = ExcelConnection(id="hr", directory=str(tmp_path))
    target = SqliteConnection(id="dir", path=str(tmp_path / "dir.db"))
    with pytest.raises(BadInput, match="cell A3: the cell holds the error #N/A"):
        await plan_between(source, target, the_job, None, Reading())


# A source whose read fails part way (a connection dropped after its first records).


@contextlib.contextmanager
def dropped_after_first_record(table_name: str) -> Iterator[None]:
    """The source table `table_name` (of hr.db) fails after its first record is read."""
    whole = SqliteReading.read

    async def read(self: SqliteReading, batch_size: int) -> AsyncIterator[list[Record]]:
        count = 0
        async for batch in whole(self, batch_size):
            for record in batch:
                if self._path.name == "hr.db" and self._table == table_name and count == 1:
                    raise Transient("sqlite: the connection was lost")
                count += 1
                yield [record]

    with pytest.MonkeyPatch.context() as patched:
        patched.setattr(SqliteReading, "read", read)
        yield


@pytest.mark.parametrize(
    ("shape", "breaking"),
    [(shape, "users") for shape in SHAPES] + [("several", "groups")],  # groups: of several
)
async def test_a_source_that_fails_part_way_fails_the_plan_in_any_shape(
    tmp_path: Path, shape: str, breaking: str
) -> None:
    people_and_objects(tmp_path, "none")
    the_job = failing_job(shape)
    keys = ["e1", "e2", "e3", "e4", "e5"] if shape == "key-scoped" else None
    reading = Reading(incremental=True, since="1") if shape.startswith("incremental") else Reading()
    source = SqliteConnection(id="hr", path=str(tmp_path / "hr.db"))
    target = SqliteConnection(id="dir", path=str(tmp_path / "dir.db"))
    name = "hr" if breaking == "users" else "hr_groups"
    lean = lean_if(shape in ("lean", "spilled", "incremental-lean"))
    broken = dropped_after_first_record(name)
    with lean, spilled_if(shape == "spilled"), broken, pytest.raises(Transient, match="was lost"):
        await plan_between(source, target, the_job, keys, reading)


@pytest.mark.parametrize("failing", ["one record", "a key"])
@pytest.mark.parametrize("lean", [False, True], ids=["in-memory", "lean"])
async def test_an_object_absent_long_enough_is_not_deleted_when_its_record_fails_on_return(
    tmp_path: Path, lean: bool, failing: str
) -> None:
    # e2 was disabled for absence 40 days ago (delete_after 30 days); it is back in the
    # source, but its record fails: neither deleted nor restored. e4 is absent: disabled
    # (unless a key failed: then no absence is acted on).
    people_and_objects(tmp_path, failing)
    users = msgspec.structs.replace(
        failing_job("in-memory").objects[0],
        on_destination_only="disable",
        delete_after="30d",
        restore=True,
    )
    the_job = msgspec.structs.replace(failing_job("in-memory"), objects=[users])
    now = datetime(2026, 6, 1, tzinfo=UTC)
    absent = {"e2": now - timedelta(days=40)}
    lifecycle = Lifecycle(absent_since=absent, now=now, delete_after=timedelta(days=30))
    reading = Reading(lifecycles={"user": lifecycle})
    source = SqliteConnection(id="hr", path=str(tmp_path / "hr.db"))
    target = SqliteConnection(id="dir", path=str(tmp_path / "dir.db"))
    with lean_if(lean):
        planned = await plan_between(source, target, the_job, None, reading)
    acted = sorted(f"{c.action} {c.key}" for c in planned.plan.changes if c.key in ("e2", "e4"))
    assert acted == ([] if failing == "a key" else ["disable e4"])
    assert "e2" not in planned.plan.returned.get("user", [])


async def test_a_run_scoped_to_a_key_reports_its_record_that_failed_under_a_transformed_key(
    tmp_path: Path,
) -> None:
    # The key is made from the source's ("E2" → "emp-e2"): asked for emp-e2, whose record
    # fails, the run says it failed; it does not look like an object with nothing to do.
    people = [("E1", "IT"), ("E2", "Legal"), ("E3", "Sales")]
    table(tmp_path / "hr.db", "hr", ["emp", "dept"], people)
    objects = [("emp-e1", "S"), ("emp-e2", "S"), ("emp-e3", "I")]
    table(tmp_path / "dir.db", "people", ["id", "dept"], objects)
    key = FieldMap(to="id", from_="emp", transform=[{"format": "emp-{emp}"}, "lower"])
    users = ObjectMapping(keys=["id"], fields=[key, FieldMap(to="dept", transform=DEPARTMENTS)])
    the_job = msgspec.structs.replace(failing_job("in-memory"), objects=[users])
    planned = await plan(tmp_path, the_job, ["emp-e2", "emp-e3"])
    assert shown(planned) == ["update emp-e3"]
    assert [(e.key, e.action) for e in planned.record_errors] == [("E2", "map")]


@pytest.mark.parametrize("failing", FAILING)
@pytest.mark.parametrize("incremental", [False, True], ids=["full", "incremental"])
async def test_little_memory_plans_what_memory_plans_for_each_failure(
    tmp_path: Path, failing: str, incremental: bool
) -> None:
    people_and_objects(tmp_path, failing)
    the_job = failing_job("incremental" if incremental else "in-memory")
    reading = Reading(incremental=True, since="1") if incremental else Reading()
    source = SqliteConnection(id="hr", path=str(tmp_path / "hr.db"))
    target = SqliteConnection(id="dir", path=str(tmp_path / "dir.db"))
    found = []
    for lean, spilled in ((False, False), (True, False), (True, True)):
        with lean_if(lean), spilled_if(spilled):
            planned = await plan_between(source, target, the_job, None, reading)
        the_plan = planned.plan
        # (a plan made in little memory keeps no source values of transformed fields)
        changes = [msgspec.structs.replace(c, sources={}) for c in the_plan.changes]
        found.append(
            (changes, the_plan.counts, the_plan.warnings, planned.record_errors, planned.types)
        )
    assert found[1] == found[0]
    assert found[2] == found[0]


@pytest.mark.parametrize("lean", [False, True], ids=["in-memory", "lean"])
async def test_a_source_filter_that_cannot_test_a_value_fails_its_record(
    tmp_path: Path, lean: bool
) -> None:
    # e2's department is binary data: the filter has no text to test, so e2 is neither
    # in the job's scope nor out of it — its record fails, its object stays.
    table(tmp_path / "hr.db", "hr", ["emp", "dept"], [("e1", "IT"), ("e2", b"IT"), ("e3", "IT")])
    table(tmp_path / "dir.db", "people", ["id"], [("e1",), ("e2",), ("e3",), ("e4",)])
    users = ObjectMapping(keys=["id"], fields=[FieldMap(to="id", from_="emp")])
    the_job = Job(
        id="failures",
        source=Endpoint(connection="hr", table="hr", where={"field": "dept", "equals": "IT"}),
        destination=Endpoint(connection="dir", table="people"),
        objects=[msgspec.structs.replace(users, on_destination_only="delete")],
        safety=Safety(max_percent=100),
    )
    with lean_if(lean):
        planned = await plan(tmp_path, the_job)
    assert shown(planned) == ["delete e4"]
    assert [(e.key, e.message) for e in planned.record_errors] == [
        ("e2", "dept: binary data, which `where` and `leavers.when` cannot test")
    ]


@pytest.mark.parametrize("failing_first", [False, True], ids=["mapped-first", "failed-first"])
@pytest.mark.parametrize("twin", ["changed", "unchanged", "new"])
@pytest.mark.parametrize("shape", SHAPES)
async def test_a_key_twice_in_the_source_is_refused_when_one_of_its_records_fails(
    tmp_path: Path, shape: str, twin: str, failing_first: bool
) -> None:
    # e2 is twice in the source, one of its records failing (Legal has no department):
    # refused as when both map, in every shape — its object is not planned from the
    # other record, whether that one changes it, leaves it as it is, or creates it.
    mapped, failing = ("e2", "IT", "2"), ("e2", "Legal", "2")
    twice = [failing, mapped] if failing_first else [mapped, failing]
    people = [("e1", "IT", "2"), *twice, ("e3", "Sales", "0")]
    table(tmp_path / "hr.db", "hr", ["emp", "dept", "at"], people)
    objects = [("e1", "S"), ("e3", "S"), ("e4", "S")]
    objects += {"changed": [("e2", "S")], "unchanged": [("e2", "I")], "new": []}[twin]
    table(tmp_path / "dir.db", "people", ["id", "dept"], objects)
    table(tmp_path / "hr.db", "hr_groups", ["gid", "title", "at"], [("g1", "One", "1")])
    table(tmp_path / "dir.db", "groups", ["id", "title"], [("g1", "One")])
    the_job = failing_job(shape)
    keys = ["e1", "e2", "e3"] if shape == "key-scoped" else None
    reading = Reading(incremental=True, since="1") if shape.startswith("incremental") else Reading()
    source = SqliteConnection(id="hr", path=str(tmp_path / "hr.db"))
    target = SqliteConnection(id="dir", path=str(tmp_path / "dir.db"))
    lean = lean_if(shape in ("lean", "spilled", "incremental-lean"))
    with lean, spilled_if(shape == "spilled"), pytest.raises(DuplicateKey) as refused:
        await plan_between(source, target, the_job, keys, reading)
    assert str(refused.value) == (
        """two source records have the key 'e2': {"dept":"I","id":"e2"} and """
        """{"at":"2","dept":"Legal","emp":"e2"} (which failed: dept: map has no entry for """
        """"Legal" (add it, or a default, or keep_unmapped = true)); make the key unique in """
        "the source (or choose other key fields)"
    )


NO_ENTRY = 'map has no entry for "{}" (add it, or a default, or keep_unmapped = true)'
UNTESTABLE = "binary data, which `where` and `leavers.when` cannot test"


@pytest.mark.parametrize("how", ["transformation", "where"])
@pytest.mark.parametrize("twin", ["existing", "new"])
@pytest.mark.parametrize("shape", SHAPES)
async def test_a_key_twice_in_the_source_is_refused_when_both_its_records_fail(
    tmp_path: Path, shape: str, twin: str, how: str
) -> None:
    # e2 is twice in the source and both its records fail (no department for either, or
    # a department `where` cannot test): refused as when one or both map, in every
    # shape — naming both records as read, with why each failed — so the object is
    # neither planned nor taken for absent, and the source is to be mended.
    first: tuple[Any, ...] = ("e2", "Legal" if how == "transformation" else b"IT", "2")
    second: tuple[Any, ...] = ("e2", "Admin" if how == "transformation" else b"Sales", "2")
    people = [("e1", "IT", "2"), first, ("e3", "Sales", "0"), second]
    table(tmp_path / "hr.db", "hr", ["emp", "dept", "at"], people)
    objects = [("e1", "S"), ("e3", "S"), ("e4", "S")] + (
        [("e2", "S")] if twin == "existing" else []
    )
    table(tmp_path / "dir.db", "people", ["id", "dept"], objects)
    groups = ["gid", "title", "at", "dept"]  # (the job's `where` tests groups' dept too)
    table(tmp_path / "hr.db", "hr_groups", groups, [("g1", "One", "1", "IT")])
    table(tmp_path / "dir.db", "groups", ["id", "title"], [("g1", "One")])
    the_job = failing_job(shape)
    if how == "where":  # every record in scope, but for one `where` cannot test
        kept = Endpoint(
            connection="hr", table="hr", where={"not": {"field": "dept", "equals": "-"}}
        )
        the_job = msgspec.structs.replace(the_job, source=kept)
    keys = ["e1", "e2", "e3"] if shape == "key-scoped" else None
    reading = Reading(incremental=True, since="1") if shape.startswith("incremental") else Reading()
    source = SqliteConnection(id="hr", path=str(tmp_path / "hr.db"))
    target = SqliteConnection(id="dir", path=str(tmp_path / "dir.db"))
    lean = lean_if(shape in ("lean", "spilled", "incremental-lean"))
    with lean, spilled_if(shape == "spilled"), pytest.raises(DuplicateKey) as refused:
        await plan_between(source, target, the_job, keys, reading)
    assert refused.value.key == "e2"
    named = [refused.value.first["dept"], refused.value.second["dept"]]
    assert named == [
        value if isinstance(value, str) else Binary(value) for value in (first[1], second[1])
    ]
    if how == "transformation":
        assert str(refused.value) == (
            """two source records have the key 'e2': {"at":"2","dept":"Legal","emp":"e2"} """
            f"(which failed: dept: {NO_ENTRY.format('Legal')}) and "
            """{"at":"2","dept":"Admin","emp":"e2"} """
            f"(which failed: dept: {NO_ENTRY.format('Admin')}); make the key unique in the "
            "source (or choose other key fields)"
        )
    else:
        assert (refused.value.first_failed, refused.value.failed) == (
            f"dept: {UNTESTABLE}",
            f"dept: {UNTESTABLE}",
        )
