"""A PostgreSQL or MariaDB source that fails — a view erroring on one row, a column
renamed since the job was written, a row whose key is NULL, a value Python cannot hold —
never makes an object look absent: in each shape of job (in memory, in little memory,
scoped to keys, incremental), the run fails or leaves the object alone; nothing is
deleted because of it."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from core.engine.keys import DuplicateKey
from core.errors import BadInput
from schemas.connections import SqliteConnection
from schemas.jobs import Changes, Endpoint, FieldMap, Job, ObjectMapping, Safety
from services.providers.base import Layout
from services.runner.planning import PlannedRun
from services.runner.planning.reading import Reading
from tests.postgresql_server import Server as PostgresqlServer
from tests.sql_servers import Login, SqlProvider, opened, read_all, sql_connection

from .test_fast_path_mixes import lean_if
from .test_scoped_reads import plan_between, table

PROVIDERS = pytest.mark.parametrize("provider", ["postgresql", "mysql"])
SHAPES = pytest.mark.parametrize(
    "shape", ["in-memory", "lean", "key-scoped", "incremental", "incremental-lean"]
)
HR = (
    "CREATE TABLE hr (emp varchar(10) PRIMARY KEY, dept varchar(20), at int);"
    "INSERT INTO hr VALUES ('e1', 'IT', 2), ('e2', 'Sales', 2), ('e3', 'IT', 2), ('e5', 'IT', 2);"
)
"""The source: e1…e3 as the destination holds them but e2 changed, e5 new."""


def source_of(
    provider: SqlProvider, request: pytest.FixtureRequest, tmp_path: Path, setup: str
) -> tuple[SqliteConnection, Callable[[str], str], Login]:
    server = request.getfixturevalue("pg_database" if provider == "postgresql" else "my_database")
    run_sql: Callable[[str], str] = server.psql if provider == "postgresql" else server.sql
    run_sql(HR + setup)
    objects = [("e1", "IT"), ("e2", "IT"), ("e3", "IT"), ("e4", "IT")]
    table(tmp_path / "dir.db", "people", ["id", "dept"], objects)
    login: Login = server
    return SqliteConnection(id="dir", path=str(tmp_path / "dir.db")), run_sql, login


async def planned(
    provider: SqlProvider,
    server: Login,
    target: SqliteConnection,
    tmp_path: Path,
    shape: str,
    source: Endpoint,
) -> PlannedRun:
    incremental = shape.startswith("incremental")
    the_job = Job(
        id="failures",
        source=source,
        destination=Endpoint(connection="dir", table="people"),
        objects=[
            ObjectMapping(
                keys=["id"],
                fields=[FieldMap(to="id", from_="emp"), FieldMap(to="dept")],
                on_destination_only="delete",
            )
        ],
        changes=Changes(field="at") if incremental else None,
        safety=Safety(max_percent=100),
    )
    reading = Reading(incremental=True, since="1") if incremental else Reading()
    keys = ["e1", "e2", "e3", "e4", "e5"] if shape == "key-scoped" else None
    connection = sql_connection(provider, server, tmp_path, "hr")
    with lean_if(shape.endswith("lean")):
        return await plan_between(connection, target, the_job, keys, reading)


def deleted(run: PlannedRun) -> list[str]:
    return sorted(c.key for c in run.plan.changes if c.action == "delete")


ERRING_VIEW = {
    "postgresql": "CREATE VIEW v AS SELECT emp, dept, at,"
    " CASE WHEN emp = 'e3' THEN (1 / (at - 2))::text END AS z FROM hr;",
    "mysql": "CREATE VIEW v AS SELECT emp, dept, at,"
    " IF(emp = 'e3', (SELECT 1 UNION SELECT 2), NULL) AS z FROM hr;",
}


@SHAPES
@PROVIDERS
async def test_a_view_erroring_on_one_row_fails_the_plan(
    provider: SqlProvider, shape: str, request: pytest.FixtureRequest, tmp_path: Path
) -> None:
    target, _, server = source_of(provider, request, tmp_path, ERRING_VIEW[provider])
    source = Endpoint(connection="hr", table="v")
    with pytest.raises(BadInput, match=r"cannot read: (division by zero|Subquery returns)"):
        await planned(provider, server, target, tmp_path, shape, source)


WARNING_VIEWS = {
    # MariaDB answers a SELECT whose expression fails on a row with NULL, 0 or a cut text
    # and a warning, not an error: e3's department was read as no value, and cleared.
    "division by zero": "CREATE VIEW v AS SELECT emp, IF(emp = 'e3', 1 / (at - 2), dept)"
    " AS dept, at FROM hr;",
    "a bad cast": "CREATE VIEW v AS SELECT emp, CAST(IF(emp = 'e3', 'x', '7') AS UNSIGNED)"
    " AS dept, at FROM hr;",
    "a bad date": "CREATE VIEW v AS SELECT emp, CAST(IF(emp = 'e3', '2026-02-30', '2026-01-02')"
    " AS DATE) AS dept, at FROM hr;",
}


@SHAPES
@pytest.mark.parametrize("view", list(WARNING_VIEWS))
async def test_a_mariadb_view_warning_on_one_row_fails_the_plan(
    shape: str, view: str, request: pytest.FixtureRequest, tmp_path: Path
) -> None:
    target, _, server = source_of("mysql", request, tmp_path, WARNING_VIEWS[view])
    source = Endpoint(connection="hr", table="v")
    with pytest.raises(BadInput, match=r"mysql table 'v': the server warned while reading"):
        await planned("mysql", server, target, tmp_path, shape, source)


@SHAPES
@PROVIDERS
@pytest.mark.parametrize("how", ["table", "query"])
async def test_a_column_renamed_in_the_source_fails_the_plan(
    provider: SqlProvider, shape: str, how: str, request: pytest.FixtureRequest, tmp_path: Path
) -> None:
    # The department read as no value would clear every object's.
    target, run_sql, server = source_of(provider, request, tmp_path, "")
    run_sql("ALTER TABLE hr RENAME COLUMN dept TO department;")
    source = (
        Endpoint(connection="hr", table="hr")
        if how == "table"
        else Endpoint(connection="hr", query="SELECT emp, department, at FROM hr WHERE at >= 0")
    )
    with pytest.raises(BadInput, match="the source has no field 'dept'"):
        await planned(provider, server, target, tmp_path, shape, source)


@SHAPES
@PROVIDERS
async def test_a_row_whose_key_is_null_deletes_nothing(
    provider: SqlProvider, shape: str, request: pytest.FixtureRequest, tmp_path: Path
) -> None:
    # e2's key is NULL in the view: its row could be any object, e2's first of all. It
    # is skipped, and none of the objects missing from the source is deleted in this run.
    view = "CREATE VIEW v AS SELECT CASE WHEN emp <> 'e2' THEN emp END AS emp, dept, at FROM hr;"
    target, _, server = source_of(provider, request, tmp_path, view)
    run = await planned(
        provider, server, target, tmp_path, shape, Endpoint(connection="hr", table="v")
    )
    assert deleted(run) == []
    assert sorted(f"{c.action} {c.key}" for c in run.plan.changes) == ["create e5"]
    if shape != "key-scoped":  # (which looks up the keys asked for alone)
        assert any("empty key (id)" in w for w in run.plan.warnings)
    if shape in ("in-memory", "lean"):
        assert any("missing from the source, so none is deleted" in w for w in run.plan.warnings)


async def test_a_postgresql_date_before_year_one_fails_the_read_naming_the_table(
    pg_database: PostgresqlServer, tmp_path: Path
) -> None:
    # PostgreSQL holds dates BC (and after 9999); Python's dates do not: the read failed
    # with "ordinal must be >= 1", naming neither the table nor what to do.
    pg_database.psql(
        "CREATE TABLE hr (emp text PRIMARY KEY, born date);"
        "INSERT INTO hr VALUES ('e1', '1990-01-02'), ('e2', '0044-03-15 BC');"
    )
    connection = sql_connection("postgresql", pg_database, tmp_path, "hr")
    layout = Layout(keys=("emp",), fields=("emp", "born"))
    source = await opened(connection, Endpoint(connection="hr", table="hr"), layout)
    try:
        with pytest.raises(BadInput, match=r"postgresql table 'hr': cannot read a value: .*::text"):
            await read_all(source)
    finally:
        await source.close()
    # As the message says: read as text by a query, the value is the server's own text.
    query = "SELECT emp, born::text AS born FROM hr"
    source = await opened(connection, Endpoint(connection="hr", query=query), layout)
    try:
        assert sorted(await read_all(source), key=str) == [
            {"emp": "e1", "born": "1990-01-02"},
            {"emp": "e2", "born": "0044-03-15 BC"},
        ]
    finally:
        await source.close()


@PROVIDERS
async def test_a_query_naming_a_column_twice_is_refused(
    provider: SqlProvider, request: pytest.FixtureRequest, tmp_path: Path
) -> None:
    # PostgreSQL gave a record of the last column of each name: a join's second `id` (or
    # `name AS id`) became the key, every object looked absent and was made anew.
    _, _, server = source_of(provider, request, tmp_path, "")
    connection = sql_connection(provider, server, tmp_path, "hr")
    query = "SELECT emp AS id, dept AS id, at FROM hr"
    layout = Layout(keys=("id",), fields=("id", "at"))
    with pytest.raises(BadInput, match=r"[Dd]uplicate column name 'id'|column 'id' twice"):
        source = await opened(connection, Endpoint(connection="hr", query=query), layout)
        try:
            await read_all(source)
        finally:
            await source.close()


@PROVIDERS
@pytest.mark.parametrize("end", [" ; \n", " -- the IT department"], ids=["semicolon", "comment"])
async def test_a_query_ending_with_a_semicolon_or_a_comment_reads_as_without(
    provider: SqlProvider, end: str, request: pytest.FixtureRequest, tmp_path: Path
) -> None:
    # `idsync job apply` takes a query ending with `;` or a comment: MariaDB, which
    # describes it inside a subquery, refused it ("an error in your SQL syntax").
    _, _, server = source_of(provider, request, tmp_path, "")
    connection = sql_connection(provider, server, tmp_path, "hr")
    layout = Layout(keys=("emp",), fields=("emp", "dept"))
    query = "SELECT emp, dept FROM hr WHERE dept = 'IT'" + end
    source = await opened(connection, Endpoint(connection="hr", query=query), layout)
    try:
        assert sorted(str(r["emp"]) for r in await read_all(source)) == ["e1", "e3", "e5"]
    finally:
        await source.close()


BOOLEANS = {
    "postgresql": ("boolean", ["t", "1", "yes"], "f"),  # psql shows t and f
    "mysql": ("tinyint(1)", ["1", "t", "on"], "0"),  # the mariadb client shows 1 and 0
}


@SHAPES
@PROVIDERS
async def test_a_filter_on_a_boolean_column_takes_its_value_as_the_client_shows_it(
    provider: SqlProvider, shape: str, request: pytest.FixtureRequest, tmp_path: Path
) -> None:
    # A boolean reads as "true" or "false": `equals = "t"` matched no row, every object
    # looked out of the job's scope (deleted, disabled), and a leaver's `when` never held.
    kind, trues, false = BOOLEANS[provider]
    setup = f"ALTER TABLE hr ADD COLUMN active {kind}; UPDATE hr SET active = (emp <> 'e3');"
    target, _, server = source_of(provider, request, tmp_path, setup)
    for spelled in trues:
        where = {"any": [{"field": "active", "equals": spelled}, {"field": "emp", "equals": "x"}]}
        source = Endpoint(connection="hr", table="hr", where=where)
        run = await planned(provider, server, target, tmp_path, shape, source)
        gone = ["e3", "e4"] if shape in ("in-memory", "lean") else []
        assert deleted(run) == gone, spelled
    source = Endpoint(connection="hr", table="hr", where={"field": "active", "equals": false})
    run = await planned(provider, server, target, tmp_path, shape, source)
    assert deleted(run) == (["e1", "e2", "e4"] if shape in ("in-memory", "lean") else [])


ALTERED = {
    "postgresql": "SET lock_timeout = '10s'; ALTER TABLE hr ADD COLUMN later int;",
    "mysql": "SET SESSION lock_wait_timeout = 10; ALTER TABLE hr ADD COLUMN later int;",
}
"""A change to the source's table, which waits for every read of it under way (and fails
after 10 s, not for ever)."""


@SHAPES
@PROVIDERS
async def test_a_plan_failing_mid_read_leaves_no_read_open_on_the_source(
    provider: SqlProvider, shape: str, request: pytest.FixtureRequest, tmp_path: Path
) -> None:
    # A key the source holds twice failed a plan in little memory before the source was
    # read to the end: its read stayed open once the sides were closed — a transaction
    # holding the table's lock (an ALTER TABLE, a DROP DATABASE waited for it) and one of
    # the pool's connections, until the garbage collector came by.
    view = "CREATE VIEW v AS SELECT emp, dept, at FROM hr UNION ALL SELECT 'e1', 'X', 2;"
    target, run_sql, server = source_of(provider, request, tmp_path, view)
    with pytest.raises(DuplicateKey, match="two source records have the key 'e1'"):
        await planned(
            provider, server, target, tmp_path, shape, Endpoint(connection="hr", table="v")
        )
    run_sql(ALTERED[provider])  # no read of it left under way
