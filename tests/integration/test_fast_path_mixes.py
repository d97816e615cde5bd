"""The quick ways of planning plan what the plain ways plan, for batches that mix the
usual records with the unusual ones — an empty field, several values, a number, spaces
around a value, a value no destination keeps, a key in another case or in decomposed
Unicode — in every shape of job: one type or several, in memory or in little memory,
scoped to some keys, incremental.

Each case plans the same job over real SQLite tables twice: as a run plans it, and with
every quick way turned off (`plain`: each record mapped and made canonical one by one,
keys read one by one, records compared field by field, creates planned by the planner,
both sides read whole, in memory, a table never compared by its rows' text first), and
compares the plans, their hashes and the records that failed.
"""

from __future__ import annotations

import asyncio
import contextlib
import csv
import sqlite3
import tempfile
from collections.abc import Iterator, Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import asyncpg
import msgspec
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from core.engine import mapping as engine_mapping
from core.engine.keys import DuplicateKey, match_key
from core.engine.lifecycle import Lifecycle
from core.engine.mapping import CompiledMapping
from core.engine.plan import plan_hash
from core.engine.planner import Planner
from core.engine.safety import assess, assess_types
from schemas.connections import Connection, CsvConnection, SqliteConnection
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
from schemas.values import Record
from services.providers.base import Layout
from services.providers.sql.reading import SqlReading
from services.providers.sqlite.read import SqliteReading
from services.runner.planning import PlannedRun, low_memory, scoped, spill, unless_same
from services.runner.planning.reading import Reading
from tests.mysql_server import Server as MariaDb
from tests.postgresql_server import Server as Postgresql
from tests.sql_servers import sql_connection

from .test_scoped_reads import plan_between, table

NOW = datetime(2026, 6, 1, tzinfo=UTC)
COLUMNS = ["emp", "name", "dept", "groups", "changed"]
PEOPLE: list[tuple[Any, ...]] = [
    # emp, name, dept, groups ("|" between values), changed (the job's change field)
    ("e1", "Ada", "Eng", "a|b", 1),  # equal to its object
    ("e2", "Grace", "Research", "a", 2),  # another department
    ("e3", "Alan", "", "", 2),  # empty fields: cleared
    ("e5", "Bob", 42, "", 2),  # a number
    ("e6", " Ada ", "Eng", "", 2),  # spaces around a value
    ("e7", "Bad\x01", "Eng", "", 2),  # a value no destination keeps: fails, held
    ("E1", "Upper", "Eng", "", 2),  # a key in another case: another object
    ("e\u0301", "NFD", "Eng", "", 2),  # the decomposed spelling of "é"
    ("e9", "New", "Eng", "c|d", 2),  # a create
    (" e10 ", "Spaced", "Eng", "a||b", 2),  # spaces around the key, an empty item
]
DIRECTORY: list[tuple[Any, ...]] = [
    ("e1", "Ada", "Eng", "a|b"),
    ("e2", "Grace", "Sales", "a"),
    ("e3", "Alan", "Research", "x"),
    ("e5", "Bob", "42", None),
    ("e6", "Ada", "Eng", None),
    ("e7", "Good", "Eng", None),
    ("\u00e9", "NFD", "Ops", None),
    ("e10", "Spaced", "Eng", "a|b"),
    ("e20", "Gone", "Eng", None),  # only in the destination
]
FIELDS = [
    FieldMap(to="id", from_="emp"),
    FieldMap(to="name"),
    FieldMap(to="dept"),
    FieldMap(to="groups", delimiter="|"),
]


def folder_of(
    folder: Path,
    people: Sequence[Sequence[Any]] = PEOPLE,
    directory: Sequence[Sequence[Any]] = DIRECTORY,
) -> Path:
    table(folder / "hr.db", "hr", COLUMNS, people)
    table(folder / "dir.db", "people", ["id", "name", "dept", "groups"], directory)
    return folder


def job(*mappings: ObjectMapping, changes: bool = False) -> Job:
    return Job(
        id="mixes",
        source=Endpoint(connection="hr", table="hr"),
        destination=Endpoint(connection="dir", table="people"),
        changes=Changes(field="changed") if changes else None,
        objects=list(mappings),
        safety=Safety(max_percent=100),
    )


USERS = ObjectMapping(keys=["id"], fields=FIELDS, on_destination_only="delete")


async def plan(
    folder: Path,
    the_job: Job,
    keys: list[str] | None,
    reading: Any,
    target: Connection | None = None,
) -> PlannedRun:
    source_db: Connection = SqliteConnection(id="hr", path=str(folder / "hr.db"))
    target_db = target or SqliteConnection(id="dir", path=str(folder / "dir.db"))
    if (folder / "hr.csv").exists():  # the same tables as files (`as_files`)
        source_db = CsvConnection(id="hr", directory=str(folder))
        source = msgspec.structs.replace(the_job.source, table=None, file="hr.csv")
        the_job = msgspec.structs.replace(the_job, source=source)
    if (folder / "people.csv").exists():
        target_db = CsvConnection(id="dir", directory=str(folder))
        destination = msgspec.structs.replace(the_job.destination, table=None, file="people.csv")
        the_job = msgspec.structs.replace(the_job, destination=destination)
    return await plan_between(source_db, target_db, the_job, keys, reading)


def as_files(folder: Path, source: bool, destination: bool) -> None:
    """The source, or the destination, as a CSV file holding the table's values as text."""
    for wanted, name, kept in ((source, "hr", "hr"), (destination, "dir", "people")):
        if not wanted:
            continue
        db = sqlite3.connect(folder / f"{name}.db")
        cursor = db.execute(f"SELECT * FROM {kept}")
        names = [d[0] for d in cursor.description]
        rows = [["" if v is None else str(v) for v in row] for row in cursor.fetchall()]
        db.close()
        with (folder / f"{kept}.csv").open("w", newline="", encoding="utf-8") as out:
            writer = csv.writer(out)
            writer.writerow(names)
            writer.writerows(rows)


@contextlib.contextmanager
def plain() -> Iterator[None]:
    """Every quick way off: what planning did before them."""
    with pytest.MonkeyPatch.context() as off:
        off.setattr(CompiledMapping, "copied", lambda *_: None)
        off.setattr(CompiledMapping, "copied_rows", lambda *_: None)
        off.setattr(engine_mapping, "_shape_copies", lambda *_: {})
        off.setattr(SqliteReading, "canonical_as_is", lambda *_: False)
        off.setattr(SqlReading, "canonical_as_is", lambda *_: False)
        off.setattr(Planner, "quick_keys", lambda *_: None)
        off.setattr(Planner, "equal_is_unchanged", lambda *_: False)
        off.setattr(spill, "quick_creates", lambda *_: None)
        off.setattr(spill, "quick_batch", lambda *_: None)
        off.setattr(low_memory, "_plain_keys", lambda *_: None)
        off.setattr(scoped, "source_lookup", lambda *_: None)
        off.setattr(scoped, "destination_lookup", lambda *_: None)
        off.setattr(scoped, "changes_looked_up", lambda *_: False)
        off.setattr(low_memory, "changes_looked_up", lambda *_: False)
        off.setattr(low_memory, "LEAN_ABOVE", 10**9)
        off.setattr(low_memory, "READ_TWICE", -1)
        off.setattr(unless_same, "row_columns", lambda *_: None)
        yield


@contextlib.contextmanager
def lean_if(lean: bool) -> Iterator[None]:
    """The low-memory path taken (every destination large) when `lean`."""
    with pytest.MonkeyPatch.context() as large:
        if lean:
            large.setattr(low_memory, "LEAN_ABOVE", -1)
        yield


def outcome(planned: PlannedRun | Exception) -> Any:
    if isinstance(planned, DuplicateKey):  # refused, naming any key found twice
        return "DuplicateKey"
    if isinstance(planned, Exception):
        return type(planned).__name__, str(planned)
    the_plan = planned.plan
    return (
        the_plan.hash,
        list(the_plan.changes),
        the_plan.counts,
        sorted(the_plan.warnings),
        # What a source that may miss records would look up: the same in every way.
        {kind: sorted(map(repr, absent)) for kind, absent in the_plan.absent.items()},
        planned.record_errors,
        planned.incremental,
        planned.source_records,
    )


async def attempt(
    folder: Path,
    the_job: Job,
    keys: list[str] | None,
    reading: Any,
    target: Connection | None = None,
) -> Any:
    try:
        return outcome(await plan(folder, the_job, keys, reading, target))
    except Exception as error:  # a refusal must be the same refusal
        return outcome(error)


async def both(
    folder: Path,
    the_job: Job,
    keys: list[str] | None = None,
    reading: Any = None,
    lean: bool = False,
    target: Connection | None = None,
) -> Any:
    """The plan as a run makes it (`lean`: in little memory) and the plain way's: equal
    (`target`: the destination's connection, else a SQLite file)."""
    with lean_if(lean):
        quick = await attempt(folder, the_job, keys, reading, target)
    with plain():
        slow = await attempt(folder, the_job, keys, reading, target)
    if keys is not None and not isinstance(quick, str) and len(quick) > 4:
        # A source looked up reads only the records of the keys: not the others, nor
        # those of them that fail before their key is read (a run scoped to keys leaves
        # absence alone, which is all that such a failure warns of).
        quick, slow = (
            (
                *found[:3],
                [w for w in found[3] if "without a key that can be read" not in w],
                *found[4:-1],
            )
            for found in (quick, slow)
        )
    if lean and not isinstance(quick, str) and len(quick) > 4:
        # A plan made in little memory keeps no source values of transformed fields
        # (docs/history.md): compared without them, and its hash with them left out.
        quick, slow = without_sources(quick), without_sources(slow)
    assert quick == slow
    return quick


def without_sources(found: Any) -> Any:
    if isinstance(found, str) or len(found) < 5:
        return found
    changes = [msgspec.structs.replace(c, sources={}) for c in found[1]]
    return (plan_hash(changes), changes, *found[2:])


def actions(found: Any) -> list[str]:
    return sorted(f"{c.action} {c.key}" for c in found[1])


@pytest.fixture(params=[False, True], ids=["in-memory", "lean"])
def lean(request: pytest.FixtureRequest) -> bool:
    return bool(request.param)


async def test_a_mixed_batch_plans_as_the_plain_way(tmp_path: Path, lean: bool) -> None:
    found = await both(folder_of(tmp_path), job(USERS), lean=lean)
    assert actions(found) == [
        "create E1",
        "create e9",
        "delete e20",
        "update e10",
        "update e2",
        "update e3",
        "update e6",
        "update é",
    ]
    assert [error.key for error in found[5]] == ["e7"]


LIFECYCLES: dict[str, dict[str, Any]] = {
    "disable": {"on_destination_only": "disable", "restore": True, "delete_after": "30d"},
    "move": {"on_destination_only": "move", "move_to": "ou=gone", "restore": True},
    "skip": {"on_destination_only": "skip", "on_source_only": "skip"},
    "update nothing": {"on_both": "skip"},
}


def reading_of(mapping: ObjectMapping, incremental: bool, since: str | None = "2") -> Any:
    from services.runner.planning.reading import Reading

    absent = {key: datetime(2026, 5, 1, tzinfo=UTC) for key in ("e2", "e20", "e6", "e7")}
    lifecycle = Lifecycle(absent_since=absent, now=NOW)
    lifecycles = {mapping.type: lifecycle} if mapping.restore or "able" in str(mapping) else {}
    return Reading(
        incremental=incremental, since=since if incremental else None, lifecycles=lifecycles
    )


@pytest.mark.parametrize("way", list(LIFECYCLES))
@pytest.mark.parametrize("incremental", [False, True], ids=["full", "incremental"])
async def test_each_action_plans_a_mixed_batch_as_the_plain_way(
    tmp_path: Path, way: str, incremental: bool, lean: bool
) -> None:
    mapping = msgspec.structs.replace(USERS, **LIFECYCLES[way])
    reading = reading_of(mapping, incremental)
    await both(folder_of(tmp_path), job(mapping, changes=True), reading=reading, lean=lean)


@pytest.mark.parametrize(
    "keys",
    [["e2"], ["e7"], ["e1", "E1"], ["\u00e9"], ["e\u0301"], [" e10 "], ["e10"], ["e5"], ["e20"]],
)
async def test_a_run_scoped_to_keys_plans_a_mixed_batch_as_the_plain_way(
    tmp_path: Path, keys: list[str]
) -> None:
    await both(folder_of(tmp_path), job(USERS), keys=keys)


async def test_a_first_run_of_a_mixed_batch_plans_as_the_plain_way(
    tmp_path: Path, lean: bool
) -> None:
    folder = folder_of(tmp_path, directory=[])
    found = await both(folder, job(USERS), lean=lean)
    assert found[2].create == len(PEOPLE) - 1


GROUPS = ObjectMapping(
    type="group",
    keys=["id"],
    fields=[
        FieldMap(to="id", from_="gid"),
        FieldMap(to="title"),
        FieldMap(to="members", delimiter="|"),
    ],
    source=ObjectScope(table="hr_groups"),
    destination=ObjectScope(table="groups"),
    on_destination_only="delete",
)


@pytest.mark.parametrize("incremental", [False, True], ids=["full", "incremental"])
async def test_several_types_plan_a_mixed_batch_as_the_plain_way(
    tmp_path: Path, incremental: bool
) -> None:
    from services.runner.planning.reading import Reading

    folder = folder_of(tmp_path)
    rows = [("g1", "One", "e1|e2", 1), ("g2", " Two ", "", 2), ("G1", "Upper", 7, 2)]
    table(folder / "hr.db", "hr_groups", ["gid", "title", "members", "changed"], rows)
    table(
        folder / "dir.db",
        "groups",
        ["id", "title", "members"],
        [("g1", "One", "e1"), ("g9", "X", None)],
    )
    since = '{"group": "2", "user": "2"}' if incremental else None
    reading = Reading(incremental=incremental, since=since)
    await both(folder, job(USERS, GROUPS, changes=True), reading=reading)


@st.composite
def messy_tables(draw: st.DrawFn) -> tuple[list[tuple[Any, ...]], list[tuple[Any, ...]]]:
    keys = st.sampled_from(["e1", "E1", "e2", " e2", "e\u0301", "\u00e9", "", "e3|e4", "4"])
    values = st.one_of(
        st.none(),
        st.sampled_from(
            ["", "x", " x ", "X", "a|b", "|", "a||b", "42", "042", "\x01", "é", "e\u0301"]
        ),
        st.integers(min_value=-2, max_value=50),
        st.sampled_from([b"\x00\xff", 4.5]),
    )
    people = draw(
        st.lists(
            st.tuples(keys, values, values, values, st.sampled_from([1, 2, None, "x"])), max_size=8
        )
    )
    directory = draw(st.lists(st.tuples(keys, values, values, values), max_size=8))
    return people, directory


def looked_up_alike(
    directory: list[tuple[Any, ...]], by_name: bool = False
) -> list[tuple[Any, ...]]:
    """The objects with a usable key (`by_name`: the name too) that no other has, spelled
    as it compares: those a lookup finds as a whole read does (scoped.py says which it
    does not)."""
    keys = [match_key({"id": row[0]}, ["id"], False) for row in directory]
    named = [match_key({"id": row[0], "name": row[1]}, ["id", "name"], False) for row in directory]
    return [
        (key, *row[1:])
        for key, both, row in zip(keys, named, directory, strict=True)
        if key is not None and keys.count(key) == 1 and (not by_name or both is not None)
    ]


def spelled_once(people: list[tuple[Any, ...]]) -> list[tuple[Any, ...]]:
    """The source records but those whose key another spells otherwise (" e1" and "e1"):
    a source looked up by key finds one of them (see the test below)."""
    spellings: dict[str | None, set[Any]] = {}
    for row in people:
        spellings.setdefault(match_key({"id": row[0]}, ["id"], False), set()).add(row[0])
    return [row for row in people if len(spellings[match_key({"id": row[0]}, ["id"], False)]) == 1]


SHAPES = {
    "full, in memory": (False, False, None),
    "full, lean": (False, True, None),
    "incremental, in memory": (True, False, None),
    "incremental, lean": (True, True, None),
    "scoped to a key": (False, False, ["e1"]),
    "scoped to a decomposed key": (False, False, ["e\u0301"]),
}


@settings(max_examples=150, deadline=None, suppress_health_check=list(HealthCheck))
@given(
    messy_tables(), st.sampled_from(list(SHAPES)), st.sampled_from(["delete", "disable", "skip"])
)
def test_any_batch_plans_as_the_plain_way(
    drawn: tuple[list[tuple[Any, ...]], list[tuple[Any, ...]]], shape: str, absence: str
) -> None:
    people, directory = drawn
    incremental, lean, keys = SHAPES[shape]
    if incremental or keys:  # what a lookup is known not to see: objects of one key
        directory = looked_up_alike(directory)
    if keys:
        people = spelled_once(people)
    mapping = msgspec.structs.replace(USERS, on_destination_only=absence)
    with tempfile.TemporaryDirectory() as folder:
        where = folder_of(Path(folder), people, directory)
        reading = reading_of(mapping, incremental)
        asyncio.run(both(where, job(mapping, changes=True), keys=keys, reading=reading, lean=lean))


OTHER_CASE_PEOPLE: list[tuple[Any, ...]] = [
    ("ann", "Ann L", "Eng", "", 1),  # a create; the directory holds "Ann"
    ("bob", "Bob", "Eng", "", 1),  # equal to its object; the directory holds "Bob" too
    ("cy", "Cy L", "Eng", "", 1),  # an update; the directory holds "CY" too
    ("dan", "Dan", "Eng", "", 1),  # a create
]
OTHER_CASE_DIRECTORY: list[tuple[Any, ...]] = [
    ("Ann", "Ann", "Eng", None),
    ("bob", "Bob", "Eng", None),
    ("Bob", "Bob", "Eng", None),
    ("cy", "Cy", "Eng", None),
    ("CY", "Cy", "Eng", None),
    ("zed", "Zed", "Eng", None),  # only in the destination
]


@pytest.mark.parametrize("absence", ["delete", "disable"])
async def test_an_object_whose_key_the_source_holds_in_another_case_is_left_alone(
    tmp_path: Path, absence: str, lean: bool
) -> None:
    """A job comparing keys with case finds "Ann" absent while the source holds "ann": a
    destination comparing without case holds them as one, so "Ann" is neither deleted nor
    disabled — whether the source's record is a create (spilled to disk in little
    memory), unchanged (dropped at once) or an update — and the plan is the same in every
    shape. "Bob", disabled long ago, is not deleted now either."""
    mapping = msgspec.structs.replace(
        USERS, on_destination_only=absence, restore=True, delete_after="30d"
    )
    since = datetime(2026, 1, 1, tzinfo=UTC)
    absent = {"Bob": since, "zed": since} if absence == "disable" else {}
    lifecycle = Lifecycle(absent_since=absent, now=NOW, delete_after=timedelta(days=30))
    reading = Reading(lifecycles={mapping.type: lifecycle})
    folder = folder_of(tmp_path, OTHER_CASE_PEOPLE, OTHER_CASE_DIRECTORY)
    found = await both(folder, job(mapping), reading=reading, lean=lean)
    away = "delete zed" if absence == "delete" or "zed" in absent else f"{absence} zed"
    assert actions(found) == ["create ann", "create dan", away, "update cy"]
    assert (found[2].unchanged, found[2].skipped) == (1, 3)
    assert sorted(found[3]) == [
        f"destination object {theirs!r} left alone: the source holds its key in another "
        f"case ({ours!r}); set case_insensitive = true if the destination compares keys "
        "without case"
        for theirs, ours in (("Ann", "ann"), ("Bob", "bob"), ("CY", "cy"))
    ]


async def test_objects_a_job_leaves_alone_are_skipped_in_little_memory_too(
    tmp_path: Path,
) -> None:
    """A job that does not update what it finds (`on_both = "skip"`) skips an object equal
    to its record as it skips any other: the low-memory planner, which drops equal records
    before planning, counted it unchanged."""
    mapping = msgspec.structs.replace(USERS, on_both="skip")
    found = await both(folder_of(tmp_path), job(mapping), lean=True)
    assert (found[2].unchanged, found[2].skipped) == (0, 7)


@st.composite
def mappings(draw: st.DrawFn) -> ObjectMapping:
    """A job of one type over the tables above, in any of the ways it can be written."""
    dept: FieldMap = draw(
        st.sampled_from(
            [
                FieldMap(to="dept"),
                FieldMap(to="dept", create_only=True),
                FieldMap(to="dept", policy="keep"),
                FieldMap(to="dept", transform="lower"),
                FieldMap(to="dept", transform={"map": {"Eng": "Engineering"}}),
                FieldMap(to="dept", if_several="first"),
            ]
        )
    )
    groups = draw(
        st.sampled_from(
            [
                FieldMap(to="groups", delimiter="|"),
                FieldMap(to="groups", delimiter="|", policy="merge"),
                FieldMap(to="groups"),
                FieldMap(to="groups", delimiter=";"),
            ]
        )
    )
    fields = [FieldMap(to="id", from_="emp"), FieldMap(to="name"), dept, groups]
    leavers = draw(st.sampled_from([None, Leavers(when={"field": "changed", "equals": "x"})]))
    way: dict[str, Any] = draw(st.sampled_from([{}, *LIFECYCLES.values()]))
    absence: dict[str, Any] = {"on_destination_only": draw(st.sampled_from(["delete", "disable"]))}
    return ObjectMapping(
        keys=draw(st.sampled_from([["id"], ["id", "name"]])),
        case_insensitive=draw(st.booleans()),
        fields=fields,
        leavers=leavers,
        **{**absence, **way},
    )


@settings(max_examples=150, deadline=None, suppress_health_check=list(HealthCheck))
@given(messy_tables(), st.sampled_from(list(SHAPES)), mappings())
def test_any_batch_of_any_job_plans_as_the_plain_way(
    drawn: tuple[list[tuple[Any, ...]], list[tuple[Any, ...]]], shape: str, mapping: ObjectMapping
) -> None:
    planned_both_ways(drawn, shape, mapping)


def planned_both_ways(
    drawn: tuple[list[tuple[Any, ...]], list[tuple[Any, ...]]],
    shape: str,
    mapping: ObjectMapping,
    files: tuple[bool, bool] | None = None,
) -> None:
    """The drawn tables planned in `shape` the quick and the plain ways (`files`: the
    source, the destination as CSV files rather than SQLite tables)."""
    people, directory = drawn
    incremental, lean, keys = SHAPES[shape]
    if incremental or keys:
        directory = looked_up_alike(directory, "name" in mapping.keys)
    if keys:
        people = spelled_once(people)
    with tempfile.TemporaryDirectory() as folder:
        where = folder_of(Path(folder), people, directory)
        if files is not None:
            as_files(where, *files)
        reading = reading_of(mapping, incremental)
        asyncio.run(both(where, job(mapping, changes=True), keys=keys, reading=reading, lean=lean))


@settings(max_examples=100, deadline=None, suppress_health_check=list(HealthCheck))
@given(
    messy_tables(),
    st.sampled_from(list(SHAPES)),
    mappings(),
    st.sampled_from([(True, False), (False, True), (True, True)]),
)
def test_any_batch_of_any_job_between_files_plans_as_the_plain_way(
    drawn: tuple[list[tuple[Any, ...]], list[tuple[Any, ...]]],
    shape: str,
    mapping: ObjectMapping,
    files: tuple[bool, bool],
) -> None:
    planned_both_ways(drawn, shape, mapping, files)


async def test_a_key_twice_in_the_source_refuses_a_job_that_creates_nothing_in_little_memory(
    tmp_path: Path,
) -> None:
    """Two source records of one key, neither in the destination, of a job that does not
    create (`on_source_only = "skip"`): the run is refused in little memory as in memory —
    the low-memory planner skipped both, and planned on."""
    mapping = msgspec.structs.replace(USERS, on_source_only="skip")
    people = [*PEOPLE, ("e9", "Again", "Eng", "", 2)]
    found = await both(folder_of(tmp_path, people), job(mapping), lean=True)
    assert found == "DuplicateKey"


@pytest.mark.parametrize(
    "spellings", [("e9", " e9"), ("\u00e9", "e\u0301")], ids=["spaces", "decomposed"]
)
async def test_a_key_twice_in_the_source_refuses_a_run_scoped_to_it(
    tmp_path: Path, spellings: tuple[str, str]
) -> None:
    people = [(spellings[0], "One", "Eng", "", 1), (spellings[1], "Two", "Eng", "", 1)]
    found = await both(folder_of(tmp_path, people, []), job(USERS), keys=[spellings[1]])
    assert found == "DuplicateKey"


@st.composite
def group_tables(
    draw: st.DrawFn,
) -> tuple[list[tuple[Any, ...]], list[tuple[Any, ...]]]:
    keys = st.sampled_from(["g1", "G1", "g2", " g2", "", "g3"])
    members = st.one_of(
        st.none(),
        st.sampled_from(["", "e1", "e1|e2", "E1|e\u0301", " e2 |x", "|", "e9", "nobody"]),
        st.integers(min_value=0, max_value=3),
    )
    titles = st.sampled_from([None, "", "T", " T ", "\x01"])
    groups = draw(
        st.lists(st.tuples(keys, titles, members, st.sampled_from([1, 2, None])), max_size=5)
    )
    directory = draw(st.lists(st.tuples(keys, titles, members), max_size=5))
    return groups, directory


@settings(max_examples=150, deadline=None, suppress_health_check=list(HealthCheck))
@given(
    messy_tables(),
    group_tables(),
    st.sampled_from(["full", "incremental", "scoped"]),
    st.booleans(),
    st.sampled_from(["delete", "disable", "skip"]),
)
def test_several_types_of_any_batch_plan_as_the_plain_way(
    drawn: tuple[list[tuple[Any, ...]], list[tuple[Any, ...]]],
    drawn_groups: tuple[list[tuple[Any, ...]], list[tuple[Any, ...]]],
    shape: str,
    resolved: bool,
    absence: str,
) -> None:
    from services.runner.planning.reading import Reading

    people, directory = drawn
    groups, group_directory = drawn_groups
    keys = ["e1", "g1"] if shape == "scoped" else None
    if shape != "full":
        directory, group_directory = looked_up_alike(directory), looked_up_alike(group_directory)
    if keys:
        people, groups = spelled_once(people), spelled_once(groups)
    members = FieldMap(
        to="members", delimiter="|", resolve=Resolve(type="user", by="id") if resolved else None
    )
    owned = msgspec.structs.replace(
        GROUPS,
        fields=[*GROUPS.fields[:2], members],
        on_destination_only=absence,
    )
    users = msgspec.structs.replace(USERS, on_destination_only=absence)
    incremental = shape == "incremental"
    since = '{"group": "2", "user": "2"}' if incremental else None
    reading = Reading(incremental=incremental, since=since)
    with tempfile.TemporaryDirectory() as folder:
        where = folder_of(Path(folder), people, directory)
        table(where / "hr.db", "hr_groups", ["gid", "title", "members", "changed"], groups)
        table(where / "dir.db", "groups", ["id", "title", "members"], group_directory)
        asyncio.run(both(where, job(users, owned, changes=True), keys=keys, reading=reading))


async def test_a_run_scoped_to_a_key_moving_its_object_back_is_judged_by_every_object(
    tmp_path: Path,
) -> None:
    """A run scoped to a key whose object comes back after being moved for absence moves it
    back: the safety limits weigh that move against every object of the destination, as
    an incremental run reads them whole for it — looked up alone, the object was the only
    one counted, and the move waited for approval (none of 1 object may go)."""
    from services.runner.planning.reading import Reading

    mapping = msgspec.structs.replace(USERS, **LIFECYCLES["move"])
    lifecycle = Lifecycle(absent_since={"e2": datetime(2026, 5, 1, tzinfo=UTC)}, now=NOW)
    reading = Reading(lifecycles={mapping.type: lifecycle})
    folder = folder_of(tmp_path)
    planned = await plan(folder, job(mapping), ["e2"], reading)
    assert [f"{c.action} {c.key}" for c in planned.plan.changes] == ["update e2", "move e2"]
    assert planned.destination_records == len(DIRECTORY)
    reason = assess(
        planned.plan.counts,
        planned.source_records,
        planned.destination_records,
        Safety(),
        full_scope=False,
    )
    assert reason is None


PG_TABLES = {
    # the destination's columns: text alone, or typed (a number, an array, a bounded text)
    "text": "id text, name text, dept text, groups text",
    "typed": "id varchar(8), name char(6), dept integer, groups text[]",
}


async def pg_directory(server: Postgresql, columns: str) -> None:
    pg = await asyncpg.connect(server.dsn())
    try:
        await pg.execute(f"CREATE TABLE people ({columns})")
        typed = "text[]" in columns
        for key, name, dept, groups in DIRECTORY:
            number = str(dept) if str(dept).isdigit() else None
            items = groups.split("|") if groups and typed else groups
            await pg.execute(
                "INSERT INTO people VALUES ($1, $2, $3, $4)",
                key,
                name,
                (int(number) if number else None) if typed else dept,
                items,
            )
    finally:
        await pg.close()


@pytest.mark.parametrize("columns", list(PG_TABLES))
@pytest.mark.parametrize("shape", list(SHAPES))
async def test_a_mixed_batch_plans_as_the_plain_way_into_postgresql(
    tmp_path: Path, pg_database: Postgresql, columns: str, shape: str
) -> None:
    incremental, lean, keys = SHAPES[shape]
    await pg_directory(pg_database, PG_TABLES[columns])
    folder = folder_of(tmp_path, directory=[])
    target = sql_connection("postgresql", pg_database, tmp_path, "dir")
    mapping = msgspec.structs.replace(USERS, **LIFECYCLES["disable"])
    reading = reading_of(mapping, incremental)
    found = await both(folder, job(mapping, changes=True), keys, reading, lean, target)
    if not incremental and keys is None:  # the objects were found: updated, not created
        # (an object restored and updated counts as restored: enable)
        assert found[2].create == 2 and found[2].update + found[2].enable >= 5


async def test_a_source_whose_scope_leaves_every_record_out_is_empty_in_little_memory_too(
    tmp_path: Path,
) -> None:
    """A file source whose `where` keeps none of its records (a value spelled otherwise
    since): the run reads no record of the job's scope, and waits for approval as a
    source returning none does — the low-memory planner counted the records it left out,
    and the run deleted every object."""
    folder = folder_of(tmp_path)
    as_files(folder, source=True, destination=False)
    scope = {"field": "dept", "equals": "Engineering"}  # "Eng" in the file
    the_job = job(USERS)
    the_job = msgspec.structs.replace(
        the_job, source=msgspec.structs.replace(the_job.source, where=scope)
    )
    for lean in (False, True):
        with lean_if(lean):
            planned = await plan(folder, the_job, None, None)
        assert planned.plan.counts.delete == len(DIRECTORY)
        assert planned.source_records == 0
        reason = assess(
            planned.plan.counts,
            planned.source_records,
            planned.destination_records,
            the_job.safety,
            full_scope=True,
        )
        assert reason is not None and "the source returned no records" in reason


async def test_one_type_whose_source_comes_back_empty_waits_for_approval(
    tmp_path: Path,
) -> None:
    folder = folder_of(tmp_path)
    table(folder / "hr.db", "hr_groups", ["gid", "title", "members", "changed"], [])
    objects = [("g1", "One", None), ("g2", "Two", None)]
    table(folder / "dir.db", "groups", ["id", "title", "members"], objects)
    users = msgspec.structs.replace(USERS, on_destination_only="skip")
    for the_job in (job(GROUPS), job(users, GROUPS)):
        the_job = msgspec.structs.replace(the_job, safety=Safety())
        if len(the_job.objects) == 1:  # groups alone: their own tables
            source = msgspec.structs.replace(the_job.source, table="hr_groups")
            destination = msgspec.structs.replace(the_job.destination, table="groups")
            the_job = msgspec.structs.replace(the_job, source=source, destination=destination)
        planned = await plan(folder, the_job, None, None)
        assert [f"{c.action} {c.key}" for c in planned.plan.changes if c.action == "delete"] == [
            "delete g1",
            "delete g2",
        ]
        reason = assess_types(planned.plan, planned.types, the_job.safety, full_scope=True)
        assert reason is not None, f"{len(the_job.objects)} types"


change_cells = st.sampled_from(["", " ", "1", "2", " 2", "10", "9.5", "1e1", "x", "2|3", "|"])


@settings(max_examples=200, deadline=None, suppress_health_check=list(HealthCheck))
@given(
    st.lists(st.tuples(st.sampled_from(["e1", "e2", ""]), change_cells), max_size=8),
    st.sampled_from([None, "2", "10", "x", " 2"]),
    st.sampled_from([None, "|"]),
    st.sampled_from([1, 2, 100]),
)
def test_a_file_read_by_its_changes_keeps_the_records_a_whole_read_filtered_keeps(
    rows: list[tuple[str, str]], since: str | None, delimiter: str | None, batch: int
) -> None:
    """A file's changed rows are kept by their cell before any record is made: the very
    records, and the very watermark, of a whole read filtered record by record."""
    from services.providers.changes import FieldChanges, filtered
    from services.providers.csv.provider import CsvProvider

    async def read(folder: Path) -> tuple[list[Record], str | None, list[Record], str | None]:
        layout = Layout(multi_valued={"changed": delimiter} if delimiter else {})
        connection = CsvConnection(id="hr", directory=str(folder))
        provider = CsvProvider(connection, Endpoint(connection="hr", file="hr.csv"), layout)
        await provider.open(write=False)
        changed = [r async for b in provider.read_changed(batch, since, "changed") for r in b]
        mark = provider.watermark()
        changes = FieldChanges("changed", since)
        whole = [r async for b in filtered(provider.read(batch), changes) for r in b]
        return changed, mark, whole, changes.watermark()

    with tempfile.TemporaryDirectory() as folder:
        with (Path(folder) / "hr.csv").open("w", newline="", encoding="utf-8") as out:
            writer = csv.writer(out)
            writer.writerow(["emp", "changed"])
            writer.writerows(rows)
        changed, mark, whole, whole_mark = asyncio.run(read(Path(folder)))
    assert changed == whole
    assert mark == whole_mark


async def test_an_object_in_a_fixed_width_column_equal_to_its_record_is_unchanged(
    tmp_path: Path, pg_database: Postgresql
) -> None:
    pg = await asyncpg.connect(pg_database.dsn())
    try:
        await pg.execute("CREATE TABLE people (id text, name char(6), dept text, groups text)")
        await pg.execute("INSERT INTO people VALUES ('e1', 'Ada', 'Eng', 'a|b')")
    finally:
        await pg.close()
    folder = folder_of(tmp_path, people=[PEOPLE[0]], directory=[])
    target = sql_connection("postgresql", pg_database, tmp_path, "dir")
    planned = await plan(folder, job(USERS), None, None, target)
    assert [f"{c.action} {c.key} {c.set}" for c in planned.plan.changes] == []


MY_TABLES = {
    "text": "id VARCHAR(16), name VARCHAR(16), dept VARCHAR(16), groups_ VARCHAR(64)",
    "typed": "id VARCHAR(16), name VARCHAR(16), dept INT, groups_ TEXT",
}


@pytest.mark.parametrize("columns", list(MY_TABLES))
@pytest.mark.parametrize("shape", list(SHAPES))
async def test_a_mixed_batch_plans_as_the_plain_way_into_mariadb(
    tmp_path: Path, my_database: MariaDb, columns: str, shape: str
) -> None:
    incremental, lean, keys = SHAPES[shape]
    typed = columns == "typed"
    rows = []
    for key, name, dept, groups in DIRECTORY:
        number = str(dept).isdigit()
        value = ("NULL" if not number else str(dept)) if typed else f"'{dept}'"
        group_text = "NULL" if groups is None else f"'{groups}'"
        rows.append(f"('{key}', '{name}', {value}, {group_text})")
    create = MY_TABLES[columns].replace("groups_", "`groups`")
    my_database.sql(
        f"CREATE TABLE people ({create}) CHARACTER SET utf8mb4 COLLATE utf8mb4_bin; "
        f"INSERT INTO people VALUES {', '.join(rows)}"
    )
    folder = folder_of(tmp_path, directory=[])
    target = sql_connection("mysql", my_database, tmp_path, "dir")
    mapping = msgspec.structs.replace(USERS, **LIFECYCLES["disable"])
    reading = reading_of(mapping, incremental)
    found = await both(folder, job(mapping, changes=True), keys, reading, lean, target)
    if not incremental and keys is None:  # the objects were found: updated, not created
        # (an object restored and updated counts as restored: enable)
        assert found[2].create == 2 and found[2].update + found[2].enable >= 5


@settings(max_examples=100, deadline=None, suppress_health_check=list(HealthCheck))
@given(
    messy_tables(),
    mappings(),
    st.lists(st.sampled_from(["e1", "E1", "e2", " e2", "e\u0301", "\u00e9", "4", "x"]), min_size=1),
)
def test_a_run_scoped_to_any_keys_plans_as_the_plain_way(
    drawn: tuple[list[tuple[Any, ...]], list[tuple[Any, ...]]],
    mapping: ObjectMapping,
    keys: list[str],
) -> None:
    people, directory = drawn
    directory = looked_up_alike(directory, "name" in mapping.keys)
    people = spelled_once(people)
    with tempfile.TemporaryDirectory() as folder:
        where = folder_of(Path(folder), people, directory)
        reading = reading_of(mapping, False)
        asyncio.run(both(where, job(mapping), keys=keys, reading=reading))


async def test_an_object_in_a_fixed_width_mariadb_column_written_once_is_unchanged(
    tmp_path: Path, my_database: MariaDb
) -> None:
    my_database.sql(
        "CREATE TABLE people (id VARCHAR(16), name CHAR(8), dept VARCHAR(16), "
        "`groups` VARCHAR(16)); INSERT INTO people VALUES ('e6', ' Ada ', 'Eng', NULL)"
    )
    folder = folder_of(tmp_path, people=[PEOPLE[4]], directory=[])  # e6, " Ada "
    target = sql_connection("mysql", my_database, tmp_path, "dir")
    planned = await plan(folder, job(USERS), None, None, target)
    assert [f"{c.action} {c.key} {c.set}" for c in planned.plan.changes] == []


async def test_the_keys_of_records_skipped_in_little_memory_go_to_disk_as_creates_do(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A job that creates nothing keeps no more keys in memory than a run of creates: a
    key found twice among those gone to disk still refuses the plan."""
    monkeypatch.setattr(spill, "RUN_SIZE", 2)
    mapping = msgspec.structs.replace(USERS, on_source_only="skip")
    people = [*PEOPLE, ("e9", "Again", "Eng", "", 2)]
    assert await both(folder_of(tmp_path, people, []), job(mapping), lean=True) == "DuplicateKey"
    found = await both(folder_of(once(tmp_path), directory=[]), job(mapping), lean=True)
    assert found[2].skipped == len(PEOPLE) - 1


def once(tmp_path: Path) -> Path:
    folder = tmp_path / "once"
    folder.mkdir()
    return folder
