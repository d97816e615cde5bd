"""Typed columns between PostgreSQL and MariaDB, both ways, in every shape of job: a first
run planned in memory, in little memory and with its creates spilled to disk plans the
same (one hash), applies, and every re-run after it — whole, in little memory, scoped to
keys, incremental, under a `where` — plans nothing: no phantom update for any type.

Each case plans and applies in this process, as a run does (tests/integration/
test_scoped_reads.py `plan_between`, `applied`), against the tests' own servers."""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator
from pathlib import Path

import msgspec
import pytest

from schemas.connections import Connection, PostgresqlConnection
from schemas.jobs import Changes, Endpoint, FieldMap, Job, Leavers, ObjectMapping, Safety
from services.runner.planning import PlannedRun, spill
from services.runner.planning.reading import Reading
from tests.mysql_server import Server as MariaDb
from tests.postgresql_server import Server as Postgresql
from tests.sql_servers import sql_connection

from .test_fast_path_mixes import lean_if
from .test_scoped_reads import applied, plan_between

SHAPES = ["memory", "lean", "spilled"]

PG_TYPED = (
    "id integer PRIMARY KEY, amount numeric(10,2), active boolean, born date,"
    " at timestamptz, uid uuid, tags text[], doc jsonb, raw bytea, yr integer,"
    " modified timestamptz"
)
MY_TYPED = (
    "id INT PRIMARY KEY, amount DECIMAL(10,2), active BOOLEAN, born DATE,"
    " at TIMESTAMP(6) NULL, uid UUID, tags TEXT, doc JSON, raw BLOB, yr YEAR,"
    " modified TIMESTAMP(6) NULL"
)
PG_ROWS = """
INSERT INTO {table} VALUES
 (1, 12.5, true, '1990-02-03', '2026-01-02 03:04:05.25+01', '123E4567-E89B-12D3-A456-426614174000',
  '{{a,b}}', '{{"b": [1, 2], "a": 1.50}}', '\\x00ff', 1999, '2026-01-01 00:00:00+00'),
 (2, -0.5, false, '2000-01-01', '2026-06-01 00:00:00+00', NULL, '{{}}', '"x"', '\\x',
  2026, '2026-01-01 00:00:01+00'),
 (3, 0, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, '2026-01-01 00:00:02+00')
"""
MY_ROWS = """
INSERT INTO {table} VALUES
 (1, 12.5, true, '1990-02-03', '2026-01-02 02:04:05.25', '123e4567-e89b-12d3-a456-426614174000',
  'a|b', '{{"b": [1, 2], "a": 1.50}}', X'00ff', 1999, '2026-01-01 00:00:00'),
 (2, -0.5, false, '2000-01-01', '2026-06-01 00:00:00', NULL, '', '"x"', X'',
  2026, '2026-01-01 00:00:01'),
 (3, 0, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, '2026-01-01 00:00:02')
"""
FIELDS = ["amount", "active", "born", "at", "uid", "doc", "raw", "yr"]


def mapping(**settings: object) -> ObjectMapping:
    return ObjectMapping(
        keys=["id"],
        fields=[
            FieldMap(to="id"),
            *(FieldMap(to=name) for name in FIELDS),
            FieldMap(to="tags", delimiter="|"),
        ],
        on_destination_only="delete",
        **settings,  # type: ignore[arg-type]
    )


SOURCES = {
    "table": {"table": "hr"},
    "view": {"table": "hr_view"},
    "query": {"query": "SELECT * FROM hr"},
}


def job(where: dict[str, object] | None = None, source: str = "table", **settings: object) -> Job:
    return Job(
        id="typed",
        source=Endpoint(connection="src", where=where, **SOURCES[source]),  # type: ignore[arg-type]
        destination=Endpoint(connection="dst", table="people"),
        objects=[mapping(**settings)],
        changes=Changes(field="modified"),
        safety=Safety(max_percent=100),
    )


@contextlib.contextmanager
def shaped(shape: str) -> Iterator[None]:
    with lean_if(shape != "memory"), pytest.MonkeyPatch.context() as small:
        if shape == "spilled":
            small.setattr(spill, "RUN_SIZE", 1)
        yield


def shown(planned: PlannedRun) -> list[str]:
    return sorted(
        f"{c.action} {c.key} {sorted((c.set or {}).items())} {sorted(c.clear or [])}"
        for c in planned.plan.changes
    )


class Pair:
    """A source and a destination on the tests' servers."""

    def __init__(
        self,
        source: Connection,
        target: Connection,
        run_source: Callable[[str], object],
    ) -> None:
        self.source, self.target = source, target
        self.run_source = run_source

    async def plan(
        self,
        the_job: Job,
        shape: str = "memory",
        keys: list[str] | None = None,
        reading: Reading | None = None,
    ) -> PlannedRun:
        with shaped(shape):
            return await plan_between(self.source, self.target, the_job, keys, reading or Reading())


@pytest.fixture(params=["postgresql-to-mariadb", "mariadb-to-postgresql"])
def pair(
    request: pytest.FixtureRequest, pg_database: Postgresql, my_database: MariaDb, tmp_path: Path
) -> Pair:
    pg = sql_connection("postgresql", pg_database, tmp_path / "pg", "pg")
    my = sql_connection("mysql", my_database, tmp_path / "my", "my")
    if request.param == "postgresql-to-mariadb":
        pg_database.psql(f"CREATE TABLE hr ({PG_TYPED});" + PG_ROWS.format(table="hr"))
        pg_database.psql("CREATE VIEW hr_view AS SELECT * FROM hr")
        my_database.sql(f"CREATE TABLE people ({MY_TYPED})")
        src, dst = pg, my
        run: Callable[[str], object] = pg_database.psql
    else:
        my_database.sql(f"CREATE TABLE hr ({MY_TYPED});" + MY_ROWS.format(table="hr"))
        my_database.sql("CREATE VIEW hr_view AS SELECT * FROM hr")
        pg_database.psql(f"CREATE TABLE people ({PG_TYPED})")
        src, dst = my, pg
        run = my_database.sql
    source = msgspec.structs.replace(src, id="src")
    target = msgspec.structs.replace(dst, id="dst")
    return Pair(source, target, run)


async def test_typed_columns_plan_one_first_run_in_every_shape_and_nothing_after(
    pair: Pair,
) -> None:
    first = {shape: await pair.plan(job(), shape) for shape in SHAPES}
    hashes = {shape: planned.plan.hash for shape, planned in first.items()}
    assert len(set(hashes.values())) == 1, hashes
    assert all(not planned.record_errors for planned in first.values())
    assert shown(first["memory"]) == shown(first["lean"])
    outcomes, _ = await applied(pair.source, pair.target, job(), first["memory"].plan.changes)
    assert [o.error for o in outcomes] == [None] * 3
    assert first["memory"].watermark is not None
    again = {shape: await pair.plan(job(), shape) for shape in SHAPES}
    again["keys"] = await pair.plan(job(), keys=["1", "2", "3"])
    again["incremental"] = await pair.plan(  # every row read again, as changed
        job(), reading=Reading(incremental=True, since="2026-01-01T00:00:00Z")
    )
    again["where"] = await pair.plan(job(where={"not": {"field": "id", "equals": "99"}}), "memory")
    for shape, planned in again.items():
        assert shown(planned) == [], shape


CHANGE = (
    "UPDATE hr SET amount = 13, tags = {tags}, active = NOT active, doc = '[1]',"
    " modified = '2026-02-01 00:00:00' WHERE id = 1;"
    " DELETE FROM hr WHERE id = 3;"
    " INSERT INTO hr (id, amount, born, modified) VALUES (4, 7.25, '2026-03-04', '2026-02-01');"
)


@pytest.mark.parametrize("source", list(SOURCES))
async def test_a_change_round_plans_alike_in_every_shape_and_nothing_after(
    pair: Pair, source: str
) -> None:
    the_job = job(source=source)
    first = await pair.plan(the_job)
    made, _ = await applied(pair.source, pair.target, the_job, first.plan.changes)
    assert [o.error for o in made] == [None] * 3
    mark = first.watermark
    tags = "'{a,c}'" if isinstance(pair.source, PostgresqlConnection) else "'a|c'"
    pair.run_source(CHANGE.format(tags=tags))
    planned = {shape: await pair.plan(the_job, shape) for shape in SHAPES}
    assert len({p.plan.hash for p in planned.values()}) == 1, planned
    assert [c.split(" ")[:2] for c in shown(planned["memory"])] == [
        ["create", "4"],
        ["delete", "3"],
        ["update", "1"],
    ]
    keyed = await pair.plan(the_job, keys=["1", "3", "4"])
    assert shown(keyed) == [c for c in shown(planned["memory"]) if not c.startswith("delete")]
    incremental = await pair.plan(the_job, reading=Reading(incremental=True, since=mark))
    assert incremental.incremental
    assert shown(incremental) == shown(keyed)
    outcomes, _ = await applied(pair.source, pair.target, the_job, planned["memory"].plan.changes)
    assert [o.error for o in outcomes] == [None] * 3
    after = {shape: await pair.plan(the_job, shape) for shape in SHAPES}
    after["keys"] = await pair.plan(the_job, keys=["1", "2", "3", "4"])
    after["incremental"] = await pair.plan(the_job, reading=Reading(incremental=True, since=mark))
    for shape, again in after.items():
        assert shown(again) == [], shape


WHERES: dict[str, tuple[dict[str, object], list[str]]] = {
    # a condition on a typed column, spelled otherwise than the column reads: rows kept
    "boolean": ({"field": "active", "equals": "t"}, ["1"]),
    "not boolean": ({"not": {"field": "active", "equals": "yes"}}, ["2", "3"]),
    "number": ({"field": "amount", "equals": "12.5"}, ["1"]),
    "integer": ({"field": "yr", "equals": "01999"}, ["1"]),
    "date": ({"field": "born", "equals": "1990-2-3"}, ["1"]),
    "uuid": ({"field": "uid", "equals": "123E4567-E89B-12D3-A456-426614174000"}, ["1"]),
    "any": (
        {"any": [{"field": "id", "equals": "02"}, {"field": "active", "equals": "TRUE"}]},
        ["1", "2"],
    ),
}


@pytest.mark.parametrize("source", list(SOURCES))
@pytest.mark.parametrize("condition", list(WHERES))
async def test_a_where_on_a_typed_column_keeps_the_same_rows_in_every_shape(
    pair: Pair, source: str, condition: str
) -> None:
    where, kept = WHERES[condition]
    described = {"postgresql": "number", "mysql": "uuid"}  # not said by a query's statement
    side = "postgresql" if isinstance(pair.source, PostgresqlConnection) else "mysql"
    if source == "query" and described[side] == condition:
        pytest.skip("documented: a query's statement does not say this column's type whole")
    everyone = job(source=source)
    first = await pair.plan(everyone)
    made, _ = await applied(pair.source, pair.target, everyone, first.plan.changes)
    assert [o.error for o in made] == [None] * 3
    scoped = job(where=where, source=source)
    gone = sorted({"1", "2", "3"} - set(kept))
    planned = {shape: await pair.plan(scoped, shape) for shape in SHAPES}
    for shape, plan in planned.items():
        assert shown(plan) == [f"delete {key} [] []" for key in gone], shape
    keyed = await pair.plan(scoped, keys=["1", "2", "3"])
    assert shown(keyed) == []


LEAVING = {
    # leavers.when on a typed column, spelled otherwise than it reads: the leaver
    "boolean": {"field": "active", "equals": "f"},
    "date": {"field": "born", "equals": "2000-1-1"},
    "number": {"field": "amount", "equals": "-.5"},
}


@pytest.mark.parametrize("source", list(SOURCES))
@pytest.mark.parametrize("condition", list(LEAVING))
async def test_a_leaver_by_a_typed_column_is_seen_in_every_shape(
    pair: Pair, source: str, condition: str
) -> None:
    side = "postgresql" if isinstance(pair.source, PostgresqlConnection) else "mysql"
    if source == "query" and (side, condition) == ("postgresql", "number"):
        pytest.skip("documented: a query's statement does not say a numeric's scale")
    everyone = job(source=source)
    first = await pair.plan(everyone)
    made, _ = await applied(pair.source, pair.target, everyone, first.plan.changes)
    assert [o.error for o in made] == [None] * 3
    leavers = Leavers(when=LEAVING[condition], action="delete")
    the_job = job(source=source, leavers=leavers)
    planned = {shape: await pair.plan(the_job, shape) for shape in SHAPES}
    planned["keys"] = await pair.plan(the_job, keys=["2"])
    since = "2025-12-31T00:00:00Z"
    planned["incremental"] = await pair.plan(
        the_job, reading=Reading(incremental=True, since=since)
    )
    for shape, plan in planned.items():
        assert shown(plan) == ["delete 2 [] []"], shape


@pytest.mark.parametrize("source", list(SOURCES))
async def test_rows_read_in_another_order_plan_the_same(pair: Pair, source: str) -> None:
    """A table's rows come back in no promised order (an update moves a row in
    PostgreSQL; a query may sort them): the preview and the run plan alike all the same."""
    the_job = job(source=source)
    pair.run_source("INSERT INTO hr (id, amount, modified) VALUES (5, 1, '2026-01-01');")
    first = await pair.plan(the_job)
    made, _ = await applied(pair.source, pair.target, the_job, first.plan.changes[:2])
    assert [o.error for o in made] == [None, None]
    pair.run_source("UPDATE hr SET amount = amount WHERE id IN (1, 2);")
    if source == "query":
        reversed_job = msgspec.structs.replace(
            the_job,
            source=Endpoint(connection="src", query="SELECT * FROM hr ORDER BY id DESC"),
        )
    else:
        reversed_job = the_job
    planned = {shape: await pair.plan(the_job, shape) for shape in SHAPES}
    planned["reversed"] = await pair.plan(reversed_job)
    assert {shape: p.plan.hash for shape, p in planned.items()} == dict.fromkeys(
        planned, planned["memory"].plan.hash
    )
