"""Incremental runs look up only the objects of the records that changed — and plan exactly
what reading the destination whole plans, in every shape and action where they may.

Each case plans the same incremental run twice over real SQLite tables: once as a run
does, once with the lookups turned off (the destination read whole, in memory), and
compares the plans, their hashes and their failed records; then checks how much of the
destination was read. A job of one type plans so on either path: in memory, and the
low-memory one that a large destination takes (`lean`), where the changed records are
read first and planned in memory when their objects can all be looked up.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import msgspec
import pytest

from core.engine.lifecycle import Lifecycle
from schemas.connections import SqliteConnection
from schemas.jobs import (
    Changes,
    Endpoint,
    FieldMap,
    Job,
    Leavers,
    ObjectMapping,
    ObjectScope,
    Resolve,
    Safety,
)
from services.providers.sqlite.provider import SqliteProvider
from services.runner.planning import PlannedRun, low_memory, scoped
from services.runner.planning.reading import Reading

from .test_scoped_reads import plan_between, table

PEOPLE = [
    # emp, name, dept, status, changed (the job's change field)
    ("e1", "Ada", "Engineering", "active", 1),
    ("e2", "Grace", "Research", "active", 1),
    ("e3", "Alan", "Research", "left", 1),
    ("E4", "Edsger", "Engineering", "active", 1),
]
DIRECTORY = [("e1", "Ada", "Engineering"), ("e2", "Grace", "Sales"), ("e3", "Alan", "Research")]
SINCE = "2"
NOW = datetime(2026, 6, 1, tzinfo=UTC)


def folder_of(tmp_path: Path, changed: set[str]) -> Path:
    """The source, `changed` people marked changed since the watermark; the destination:
    three of them, one (e2) in another department."""
    rows = [(*row[:4], 2 if row[0] in changed else row[4]) for row in PEOPLE]
    table(tmp_path / "hr.db", "hr", ["emp", "name", "dept", "status", "changed"], rows)
    table(tmp_path / "dir.db", "people", ["id", "name", "dept"], DIRECTORY)
    return tmp_path


def job(*mappings: ObjectMapping) -> Job:
    return Job(
        id="changed",
        source=Endpoint(connection="hr", table="hr"),
        destination=Endpoint(connection="dir", table="people"),
        changes=Changes(field="changed"),
        objects=list(mappings),
        safety=Safety(max_percent=100),
    )


async def plan(folder: Path, the_job: Job, reading: Reading, **patched: Any) -> PlannedRun:
    """The incremental run planned as a run plans it (`patched`: the sources' attributes)."""
    source_db = SqliteConnection(id="hr", path=str(folder / "hr.db"))
    target_db = SqliteConnection(id="dir", path=str(folder / "dir.db"))
    return await plan_between(source_db, target_db, the_job, None, reading, **patched)


planned_lean: list[int] = []
"""The low-memory plans made by the last `both_ways` (lean), one entry each."""


def noted(plan_lean: Callable[..., Awaitable[Any]]) -> Callable[..., Awaitable[Any]]:
    async def planning(*args: Any, **kwargs: Any) -> Any:
        planned_lean.append(1)
        return await plan_lean(*args, **kwargs)

    return planning


@pytest.fixture(params=[False, True], ids=["in-memory", "lean"])
def lean(request: pytest.FixtureRequest) -> bool:
    """Whether the run's plan takes the low-memory path (every destination is large)."""
    return bool(request.param)


async def both_ways(
    folder: Path,
    the_job: Job,
    monkeypatch: pytest.MonkeyPatch,
    reading: Reading | None = None,
    lean: bool = False,
    **patched: Any,
) -> tuple[PlannedRun, PlannedRun]:
    """The incremental run's plan as a run makes it (`lean`: as it makes it for a large
    destination), and in memory with the destination read whole."""
    reading = reading or Reading(incremental=True, since=SINCE)
    with monkeypatch.context() as large:
        if lean:
            large.setattr(low_memory, "LEAN_ABOVE", 0)
            planned_lean.clear()
            large.setattr(low_memory, "plan_lean", noted(low_memory.plan_lean))
        looked_up = await plan(folder, the_job, reading, **patched)
    with monkeypatch.context() as off:
        off.setattr(scoped, "changes_looked_up", lambda *_: False)
        whole = await plan(folder, the_job, reading, **patched)
    assert looked_up.plan.hash == whole.plan.hash
    assert looked_up.plan.changes == whole.plan.changes
    assert looked_up.plan.counts == whole.plan.counts
    assert looked_up.record_errors == whole.record_errors
    assert whole.destination_records == len(DIRECTORY) * len(the_job.objects)
    return looked_up, whole


KEY_AND_NAME = [FieldMap(to="id", from_="emp"), FieldMap(to="name")]
DEPT = FieldMap(to="dept")
USERS = ObjectMapping(keys=["id"], fields=[*KEY_AND_NAME, DEPT])
LIFECYCLE = {"on_destination_only": "disable", "restore": True, "delete_after": "30d"}
SHAPES: dict[str, tuple[ObjectMapping, set[str], int, list[str]]] = {
    # (mapping, the people changed, destination records read, the plan)
    "an update: only its object looked up": (USERS, {"e2"}, 1, ["update e2"]),
    "a changed record equal to its object": (USERS, {"e1"}, 1, []),
    "two changed records": (USERS, {"e1", "e2"}, 2, ["update e2"]),
    "nothing changed: nothing looked up": (USERS, set(), 0, []),
    "a create: its key found in no object, the others' objects looked up": (
        USERS,
        {"E4", "e2"},
        1,
        ["create E4", "update e2"],
    ),
    "a record that fails its mapping: nothing to look up, nothing done": (
        ObjectMapping(
            keys=["id"],
            fields=[*KEY_AND_NAME, FieldMap(to="dept", transform={"map": {"Sales": "S"}})],
        ),
        {"e2"},
        0,
        [],
    ),
    "keys without case: the destination read whole": (
        ObjectMapping(keys=["id"], case_insensitive=True, fields=[*KEY_AND_NAME, DEPT]),
        {"e2"},
        3,
        ["update e2"],
    ),
    "a unique field: the destination read whole": (
        ObjectMapping(keys=["id"], fields=[*KEY_AND_NAME, FieldMap(to="dept", unique=True)]),
        {"e2"},
        3,
        ["update e2"],
    ),
    "leavers: the destination read whole": (
        ObjectMapping(
            keys=["id"],
            fields=[*KEY_AND_NAME, DEPT],
            leavers=Leavers(when={"field": "status", "equals": "left"}, action="delete"),
        ),
        {"e2", "e3"},
        3,
        ["update e2", "delete e3"],
    ),
    "a container followed (a move weighs against every object): read whole": (
        ObjectMapping(keys=["id"], fields=[*KEY_AND_NAME, DEPT], container_from="status"),
        {"e2"},
        3,
        ["update e2"],
    ),
}


@pytest.mark.parametrize("shape", list(SHAPES))
async def test_an_incremental_run_plans_what_reading_the_destination_whole_plans(
    tmp_path: Path, shape: str, monkeypatch: pytest.MonkeyPatch, lean: bool
) -> None:
    mapping, changed, found, planned = SHAPES[shape]
    folder = folder_of(tmp_path, changed)
    looked_up, whole = await both_ways(folder, job(mapping), monkeypatch, lean=lean)
    if lean:  # the lean plan only where the destination is read whole
        assert planned_lean == ([1] if found == len(DIRECTORY) else [])
    assert sorted(f"{c.action} {c.key}" for c in looked_up.plan.changes) == sorted(planned)
    assert looked_up.destination_records == found
    assert looked_up.source_records == whole.source_records == len(changed)


async def test_a_create_reads_whole_a_destination_that_may_miss_a_key(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, lean: bool
) -> None:
    """Where a lookup may miss a key stored in another spelling (a directory, a typed
    column), a key it does not find makes the destination read whole, as a full run."""
    monkeypatch.setattr(SqliteProvider, "finds_every_key", lambda *_: False)
    folder = folder_of(tmp_path, {"E4", "e2"})
    looked_up, _ = await both_ways(folder, job(USERS), monkeypatch, lean=lean)
    if lean:
        assert planned_lean == [1]
    assert sorted(f"{c.action} {c.key}" for c in looked_up.plan.changes) == [
        "create E4",
        "update e2",
    ]
    assert looked_up.destination_records == len(DIRECTORY)


def returning(mapping: ObjectMapping) -> Reading:
    """e2 was disabled (or moved) for absence ten days ago; it is back, changed."""
    lifecycle = Lifecycle(absent_since={"e2": datetime(2026, 5, 22, tzinfo=UTC)}, now=NOW)
    return Reading(incremental=True, since=SINCE, lifecycles={mapping.type: lifecycle})


async def test_an_object_back_in_the_source_is_enabled_when_only_it_is_looked_up(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, lean: bool
) -> None:
    mapping = msgspec.structs.replace(USERS, **LIFECYCLE)
    folder = folder_of(tmp_path, {"e2"})
    looked_up, _ = await both_ways(folder, job(mapping), monkeypatch, returning(mapping), lean)
    assert sorted(f"{c.action} {c.key}" for c in looked_up.plan.changes) == [
        "enable e2",
        "update e2",
    ]
    assert looked_up.destination_records == 1


async def test_an_object_moved_back_on_its_return_has_the_destination_read_whole(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, lean: bool
) -> None:
    """A move counts against every object of the destination (the safety limits)."""
    mapping = msgspec.structs.replace(USERS, **LIFECYCLE, move_to="ou=gone")
    folder = folder_of(tmp_path, {"e2"})
    looked_up, _ = await both_ways(folder, job(mapping), monkeypatch, returning(mapping), lean)
    assert sorted(f"{c.action} {c.key}" for c in looked_up.plan.changes) == [
        "enable e2",
        "move e2",
        "update e2",
    ]
    assert looked_up.destination_records == len(DIRECTORY)


async def test_more_changed_records_than_worth_looking_up_have_the_destination_read_whole(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, lean: bool
) -> None:
    monkeypatch.setattr(scoped, "LOOKUP_AT_MOST", 1)
    folder = folder_of(tmp_path, {"e1", "e2"})
    looked_up, _ = await both_ways(folder, job(USERS), monkeypatch, lean=lean)
    assert looked_up.destination_records == len(DIRECTORY)


async def test_a_source_that_read_every_record_after_all_has_every_object_read(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, lean: bool
) -> None:
    """Its change feed lost, the run is a full one: absence is acted on, so every object
    of the destination must be seen (e3, not among the records read, is deleted)."""
    mapping = msgspec.structs.replace(USERS, on_destination_only="delete")
    folder = folder_of(tmp_path, {"e1", "e2"})
    lost: Callable[[], str] = lambda: "the change feed was lost"  # noqa: E731
    looked_up, _ = await both_ways(folder, job(mapping), monkeypatch, lean=lean, fell_back=lost)
    assert looked_up.full_because == "the change feed was lost"
    assert sorted(f"{c.action} {c.key}" for c in looked_up.plan.changes) == [
        "delete e3",
        "update e2",
    ]
    assert looked_up.destination_records == len(DIRECTORY)


GROUPS = ObjectMapping(
    type="group",
    keys=["id"],
    fields=[FieldMap(to="id", from_="gid"), FieldMap(to="title")],
    source=ObjectScope(table="hr_groups"),
    destination=ObjectScope(table="groups"),
)


async def test_each_type_of_several_looks_up_its_own_changed_objects(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    folder = folder_of(tmp_path, {"e2"})
    groups = [("g1", "Engineering", 1), ("g2", "Research", 2), ("g3", "Sales", 1)]
    table(folder / "hr.db", "hr_groups", ["gid", "title", "changed"], groups)
    directory = [("g1", "Engineering"), ("g2", "R&D"), ("g3", "Sales")]
    table(folder / "dir.db", "groups", ["id", "title"], directory)
    # A job of several types keeps a watermark per type.
    reading = Reading(incremental=True, since='{"group": "2", "user": "2"}')
    looked_up, _ = await both_ways(folder, job(USERS, GROUPS), monkeypatch, reading)
    assert sorted(f"{c.action} {c.key}" for c in looked_up.plan.changes) == [
        "update e2",
        "update g2",
    ]
    assert looked_up.destination_records == 2


async def test_a_job_with_references_reads_every_object_it_may_resolve_to(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    folder = folder_of(tmp_path, {"e2"})
    groups = [(f"g{n}", f"Group {n}", None) for n in (1, 2, 3)]
    table(folder / "hr.db", "hr_groups", ["gid", "title", "owner", "changed"], [])
    table(folder / "dir.db", "groups", ["id", "title", "owner"], groups)
    owned = msgspec.structs.replace(
        GROUPS,
        fields=[*GROUPS.fields, FieldMap(to="owner", resolve=Resolve(type="user", by="id"))],
    )
    reading = Reading(incremental=True, since='{"group": "2", "user": "2"}')
    looked_up, _ = await both_ways(folder, job(USERS, owned), monkeypatch, reading)
    assert [f"{c.action} {c.key}" for c in looked_up.plan.changes] == ["update e2"]
    assert looked_up.destination_records == len(DIRECTORY) + len(groups)


@pytest.mark.parametrize("odd", ["N/A", "yesterday", "2026-13-45", "99"])
async def test_a_sqlite_change_value_not_a_timestamp_never_hides_later_changes(
    tmp_path: Path, odd: str
) -> None:
    stamps = ["2026-11-01T10:00:00Z", "2026-11-01T11:00:00Z", odd, "2026-11-01T12:00:00Z"]
    table(
        tmp_path / "hr.db",
        "hr",
        ["emp", "name", "dept", "status", "changed"],
        [(*row[:4], stamp) for row, stamp in zip(PEOPLE, stamps, strict=True)],
    )
    table(tmp_path / "dir.db", "people", ["id", "name", "dept"], DIRECTORY)
    the_job = job(USERS)
    full = await plan(tmp_path, the_job, Reading(incremental=False, since=None))
    assert full.watermark == "2026-11-01T12:00:00Z"

    with sqlite3.connect(tmp_path / "hr.db") as db:
        db.execute(
            "UPDATE hr SET dept = 'Moved', changed = '2026-11-02T09:00:00Z' WHERE emp = 'e2'"
        )
    later = await plan(tmp_path, the_job, Reading(incremental=True, since=full.watermark))
    assert later.incremental and later.source_records == 3, "e2, the odd value, E4 at the mark"
    assert later.watermark == "2026-11-02T09:00:00Z"
    assert (
        f"changes value {odd!r} of record 'e3' is not a timestamp: read as changed, "
        "not used as the watermark"
    ) in later.plan.warnings
    assert "e2" in {change.key for change in later.plan.changes}


async def test_a_stored_watermark_not_a_timestamp_reads_every_record_as_a_full_run(
    tmp_path: Path,
) -> None:
    folder = folder_of(tmp_path, {"e2"})
    planned = await plan(folder, job(USERS), Reading(incremental=True, since="N/A"))
    assert not planned.incremental and planned.source_records == len(PEOPLE)
    assert planned.full_because is not None and "'N/A'" in planned.full_because
