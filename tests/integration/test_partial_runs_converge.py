"""A partial run leaves the destination where a whole run would: whatever the source's
records did since the last whole run — new people, people renamed, given another
manager, groups given other members, records naming people who did not exist yet —
people who left (their record says so: their object deleted, and let go by the groups and
people naming them) or came back —
an incremental run (`--changed-only`) and a run scoped to the changed records' keys
(`--key`) each write what makes a whole run afterwards find nothing to do, planned the
same twice (a preview is the run). Drawn over jobs of one type and of two (people and
their groups), references cleared or skipping their record when none resolves, and a
job of one type planned in little memory (low_memory.py); into SQLite, PostgreSQL and
MariaDB tables (the servers' with typed columns: an integer, a boolean, a date, a
decimal).

Each example plans over real tables (the source's in SQLite) as a run plans them and
applies each plan to them: the source's first state synchronised whole, then changed,
then the partial run, then the whole job planned again. No record leaves the source: an
incremental run does not see absences (a whole run deletes them)."""

from __future__ import annotations

import asyncio
import os
import sqlite3
import tempfile
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Literal
from unittest.mock import patch

import msgspec
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from schemas.connections import Connection, SqliteConnection
from schemas.jobs import Changes, Endpoint, FieldMap, Job, Leavers
from schemas.plan import Change
from services.runner.planning import PlannedRun, entry, low_memory
from services.runner.planning.reading import Reading
from services.runner.planning.sides import open_pair
from tests.mysql_server import Server as MyServer
from tests.postgresql_server import Server as PgServer
from tests.sql_servers import sql_connection

from .test_incremental_new_members import skipping
from .test_scoped_new_members import GROUPS, USERS
from .test_scoped_reads import plan_between, table

PEOPLE = ["u1", "u2", "u3", "u4", "u5", "u6"]
NAMES = ["Ada", "Bob", "Cy"]
BEFORE, AFTER = 1, 5
"""`at` of the records of the first state, and of those changed since."""

Person = tuple[str, str, str, str]  # emp, name, boss ("" none), status ("gone": left)
Group = tuple[str, str]  # gid, members joined by "|"


@dataclass(frozen=True)
class Case:
    first: tuple[dict[str, Person], dict[str, Group]]
    then: tuple[dict[str, Person], dict[str, Group]]
    shape: Literal["several types", "one type", "lean"]
    if_none: Literal["clear", "skip"]
    way: Literal["incremental", "keys"]


people = st.dictionaries(
    st.sampled_from(PEOPLE),
    st.tuples(
        st.sampled_from(NAMES), st.sampled_from(["", *PEOPLE]), st.sampled_from(["", "", "gone"])
    ),
    min_size=1,
)
groups = st.dictionaries(
    st.sampled_from(["g1", "g2", "g3"]),
    st.lists(st.sampled_from(PEOPLE), unique=True, max_size=3).map("|".join),
)


@st.composite
def cases(draw: st.DrawFn) -> Case:
    """A first state, and a second where records changed, came or stayed the same."""
    if_none: Literal["clear", "skip"] = draw(st.sampled_from(["clear", "skip"]))
    first_people = {emp: (emp, *rest) for emp, rest in draw(people).items()}
    first_groups = {gid: (gid, members) for gid, members in draw(groups).items()}
    if if_none == "skip":  # see resolvable()
        first_people, first_groups = resolvable(first_people, first_groups)
    then_people = dict(first_people)
    for emp, rest in draw(people).items():  # changed or new; the others as they were
        then_people[emp] = (emp, *rest)
    then_groups = dict(first_groups)
    for gid, members in draw(groups).items():
        then_groups[gid] = (gid, members)
    return Case(
        first=(first_people, first_groups),
        then=(then_people, then_groups),
        shape=draw(st.sampled_from(["several types", "one type", "lean"])),
        if_none=if_none,
        way=draw(st.sampled_from(["incremental", "keys"])),
    )


def resolvable(
    people: dict[str, Person], groups: dict[str, Group]
) -> tuple[dict[str, Person], dict[str, Group]]:
    """The first state with every reference naming someone it holds who has not left (a
    manager of their own where none is, a group's first such person where it names
    none; no group where there is none). With `if_none = "skip"`, an object whose
    reference resolves to nothing (or is empty) is not created, and neither partial run
    creates it while its own record stays unchanged: it is left to a whole run, as
    docs/references.md says."""
    here = [emp for emp, _, _, status in people.values() if status != "gone"]
    named = {
        emp: (emp, name, boss if boss in here else emp, status)
        for emp, name, boss, status in people.values()
    }
    kept = {
        gid: (gid, "|".join(m for m in members.split("|") if m in here) or here[0])
        for gid, members in groups.values()
        if here
    }
    return named, kept


LEAVING = Leavers(when={"field": "status", "equals": "gone"}, action="delete")
"""A record whose status says its person has left: the object is deleted."""
TYPED = ("age", "active", "started", "score")
"""Fields a server's table holds in typed columns (`typed_people`), written from text."""
PEOPLE_MAPPING = msgspec.structs.replace(
    USERS,
    on_destination_only="delete",
    leavers=LEAVING,
    fields=[*USERS.fields, *(FieldMap(to=name) for name in TYPED)],
)
PLAIN_USERS = msgspec.structs.replace(
    PEOPLE_MAPPING,
    fields=[FieldMap(to="boss") if f.to == "boss" else f for f in PEOPLE_MAPPING.fields],
)
"""People whose manager is copied as it is: a job the low-memory planner takes."""


def the_job(case: Case) -> Job:
    users, teams = PEOPLE_MAPPING, GROUPS
    if case.if_none == "skip":
        users, teams = skipping(PEOPLE_MAPPING), skipping(GROUPS)
    objects = {"several types": [users, teams], "one type": [users], "lean": [PLAIN_USERS]}
    return Job(
        id="converge",
        source=Endpoint(connection="hr", table="hr"),
        destination=Endpoint(connection="dir", table="people"),
        objects=objects[case.shape],
        changes=Changes(field="at"),
    )


def typed(person: Person) -> tuple[str, str, str, str]:
    """A person's typed values, as text a source holds them in, following their name:
    an integer, a boolean, a date and a decimal written as "8.5" where its column holds
    "8.50" — equal, not an update."""
    _, name, _, status = person
    return (
        str(20 + len(name)),
        "false" if status == "gone" else "true",
        f"2024-01-{len(name):02d}",
        f"{len(name)}.5",
    )


def write_source(folder: Path, case: Case, state: Literal["first", "then"]) -> None:
    """The source tables in one state; a record of the second stamped AFTER where it
    differs from the first (or is new)."""
    (folder / "hr.db").unlink(missing_ok=True)
    first_people, first_groups = case.first
    these_people, these_groups = case.first if state == "first" else case.then
    rows = [
        (*p, *typed(p), BEFORE if first_people.get(p[0]) == p else AFTER)
        for p in these_people.values()
    ]
    columns = ["emp", "name", "boss", "status", *TYPED, "at"]
    table(folder / "hr.db", "hr", columns, rows)
    teams = [(*g, BEFORE if first_groups.get(g[0]) == g else AFTER) for g in these_groups.values()]
    table(folder / "hr.db", "hr_groups", ["gid", "members", "at"], teams)


@dataclass(frozen=True)
class Target:
    """The destination: a connection, and how its tables are emptied before an example
    (a SQLite file made anew; a server's tables dropped, the first write makes them)."""

    connection: Connection
    empty: Callable[[], object]


def sqlite_target(folder: Path) -> Target:
    def empty() -> None:
        (folder / "dir.db").unlink(missing_ok=True)
        table(folder / "dir.db", "people", ["id", "name", "boss"], [])
        table(folder / "dir.db", "groups", ["id", "members"], [])

    return Target(SqliteConnection(id="dir", path=str(folder / "dir.db")), empty)


async def planned(
    folder: Path,
    target: Target,
    job: Job,
    keys: list[str] | None = None,
    since: str | None = None,
) -> PlannedRun:
    source = SqliteConnection(id="hr", path=str(folder / "hr.db"))
    reading = Reading(incremental=True, since=since) if since is not None else None
    return await plan_between(source, target.connection, job, keys, reading)


async def apply(folder: Path, target: Target, job: Job, changes: Sequence[Change]) -> None:
    """The changes applied to each type's table, in the plan's order."""
    source = SqliteConnection(id="hr", path=str(folder / "hr.db"))
    for at, mapping in enumerate(job.objects):
        destination = open_pair(source, target.connection, job, at)[1]
        await destination.open(write=True)
        try:
            outcomes = await destination.apply(
                [c for c in changes if c.object_type == mapping.type]
            )
            assert all(o.error is None for o in outcomes), outcomes
        finally:
            await destination.close()


def changed_keys(case: Case) -> list[str]:
    """The keys of the records the second state changed or added."""
    (first_people, first_groups), (then_people, then_groups) = case.first, case.then
    keys = [emp for emp, p in then_people.items() if first_people.get(emp) != p]
    if case.shape == "several types":
        keys += [gid for gid, g in then_groups.items() if first_groups.get(gid) != g]
    return keys


def shown(changes: Sequence[Change]) -> list[tuple[str, str, str, object]]:
    return sorted(((c.action, c.key, c.phase, c.set) for c in changes), key=str)


async def converges(folder: Path, target: Target, case: Case) -> None:
    job = the_job(case)
    target.empty()
    write_source(folder, case, "first")
    whole = await planned(folder, target, job)
    await apply(folder, target, job, whole.plan.changes)
    settled = await planned(folder, target, job)
    assert shown(settled.plan.changes) == [], "a whole run settles its own state"
    since = whole.watermark

    write_source(folder, case, "then")
    keys = changed_keys(case)
    if case.way == "keys":
        if not keys:
            return  # nothing to scope a run to
        partial = await planned(folder, target, job, keys=keys)
        again = await planned(folder, target, job, keys=keys)
    else:
        assert since is not None
        partial = await planned(folder, target, job, since=since)
        again = await planned(folder, target, job, since=since)
    assert again.plan.hash == partial.plan.hash, "a preview plans as the run does"
    await apply(folder, target, job, partial.plan.changes)
    after = await planned(folder, target, job)
    assert shown(after.plan.changes) == [], f"left to a whole run after {case.way}"


EXAMPLES = 600 if os.environ.get("IDSYNC_LONG_TESTS") else 60
"""Examples drawn; ten times as many with IDSYNC_LONG_TESTS set."""
SERVER_EXAMPLES = EXAMPLES // 3
"""Against a PostgreSQL or MariaDB server: fewer, each slower."""


def converging(folder: Path, target: Target, case: Case) -> None:
    """One example, the low-memory planner taken where the case says (and only there)."""
    lean_above = -1 if case.shape == "lean" else low_memory.LEAN_ABOVE  # even when empty
    with (
        patch.object(low_memory, "LEAN_ABOVE", lean_above),
        patch.object(entry, "plan_low_memory", wraps=low_memory.plan_low_memory) as lean,
    ):
        asyncio.run(converges(folder, target, case))
    assert lean.called == (case.shape == "lean")


@settings(max_examples=EXAMPLES, suppress_health_check=[HealthCheck.too_slow])
@given(cases())
def test_a_partial_run_leaves_nothing_for_a_whole_run_to_do(case: Case) -> None:
    with tempfile.TemporaryDirectory(prefix="idsync-converge-") as folder:
        converging(Path(folder), sqlite_target(Path(folder)), case)


PG_TABLES = """DROP TABLE IF EXISTS people, groups;
CREATE TABLE people (id text PRIMARY KEY, name text, boss text,
  age integer, active boolean, started date, score numeric(6, 2));"""
"""A server's people in typed columns; its groups' table made by the first write."""
MY_TABLES = """DROP TABLE IF EXISTS people, groups;
CREATE TABLE people (id varchar(20) PRIMARY KEY, name text, boss text,
  age int, active boolean, started date, score decimal(6, 2));"""


ON_A_SERVER = settings(
    max_examples=SERVER_EXAMPLES,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)
"""The server's database is the test's: each example drops the tables it made."""


@ON_A_SERVER
@given(case=cases())
def test_a_partial_run_into_postgresql_leaves_nothing_for_a_whole_run_to_do(
    pg_database: PgServer, tmp_path: Path, case: Case
) -> None:
    connection = sql_connection("postgresql", pg_database, tmp_path, "dir")
    target = Target(connection, lambda: pg_database.psql(PG_TABLES))
    with tempfile.TemporaryDirectory(prefix="idsync-converge-") as folder:
        converging(Path(folder), target, case)


@ON_A_SERVER
@given(case=cases())
def test_a_partial_run_into_mariadb_leaves_nothing_for_a_whole_run_to_do(
    my_database: MyServer, tmp_path: Path, case: Case
) -> None:
    connection = sql_connection("mysql", my_database, tmp_path, "dir")
    target = Target(connection, lambda: my_database.sql(MY_TABLES))
    with tempfile.TemporaryDirectory(prefix="idsync-converge-") as folder:
        converging(Path(folder), target, case)


def test_the_tables_are_real_sqlite(tmp_path: Path) -> None:
    """The examples above run against SQLite files the provider reads and writes."""
    case = Case(
        first=({"u1": ("u1", "Ada", "u2", "")}, {}),
        then=({"u1": ("u1", "Ada", "u2", ""), "u2": ("u2", "Bob", "", "")}, {}),
        shape="one type",
        if_none="clear",
        way="incremental",
    )
    asyncio.run(converges(tmp_path, sqlite_target(tmp_path), case))
    rows = sqlite3.connect(tmp_path / "dir.db").execute("SELECT id, boss FROM people").fetchall()
    assert sorted(rows) == [("u1", "u2"), ("u2", None)]
