"""A reference looks its value up as the destination holds it: a manager named by an
employee number "042" is the person whose integer column holds 42 — as the person's own
"042" is that 42, unchanged — in a PostgreSQL or MariaDB table; one named by a mail in
another case is the person whose mail a column without case (citext, a _ci collation)
holds equal."""

from __future__ import annotations

from pathlib import Path

import pytest

from schemas.jobs import Endpoint, FieldMap, Job, ObjectMapping, Resolve, Safety
from services.runner.planning.reading import Reading
from tests.sql_servers import Login, SqlProvider, sql_connection

from .test_scoped_reads import plan_between


@pytest.mark.parametrize("provider", ["postgresql", "mysql"])
async def test_a_manager_named_by_a_number_spelled_otherwise_resolves(
    provider: SqlProvider, request: pytest.FixtureRequest, pg_database: Login, tmp_path: Path
) -> None:
    pg_database.psql(  # type: ignore[attr-defined]
        "CREATE TABLE hr (emp text, empno text, boss_no text);"
        "INSERT INTO hr VALUES ('e1', '042', NULL), ('e2', '7', '042'), ('e3', '8', '0042');"
    )
    server = request.getfixturevalue("pg_database" if provider == "postgresql" else "my_database")
    run_sql = server.psql if provider == "postgresql" else server.sql
    run_sql(
        "CREATE TABLE people (id varchar(10) PRIMARY KEY, empno int, boss varchar(10));"
        "INSERT INTO people VALUES ('e1', 42, NULL), ('e2', 7, NULL), ('e3', 8, 'e1');"
    )
    boss = FieldMap(to="boss", from_="boss_no", resolve=Resolve(type="user", by="empno"))
    the_job = Job(
        id="managers",
        source=Endpoint(connection="hr", table="hr"),
        destination=Endpoint(connection="dir", table="people"),
        objects=[
            ObjectMapping(
                keys=["id"], fields=[FieldMap(to="id", from_="emp"), FieldMap(to="empno"), boss]
            )
        ],
        safety=Safety(max_percent=100),
    )
    source = sql_connection("postgresql", pg_database, tmp_path, "hr")
    target = sql_connection(provider, server, tmp_path / "dir", "dir")
    planned = await plan_between(source, target, the_job, None, Reading())
    assert planned.record_errors == []
    assert [(c.action, c.key, c.set) for c in planned.plan.changes] == [
        ("update", "e2", {"boss": "e1"})
    ]


COLUMNS = {  # (provider, ignores case): the mail column
    ("postgresql", True): "citext",
    ("postgresql", False): "text",
    ("mysql", True): "varchar(40) COLLATE utf8mb4_general_ci",
    ("mysql", False): "varchar(40) COLLATE utf8mb4_bin",
}
HINT = (
    "boss: no user with mail 'ADA@X.ORG' in the destination or this run (one has mail "
    "'Ada@X.org': mail is matched with case; write the value as the destination holds it)"
)


@pytest.mark.parametrize("ignores_case", [True, False])
@pytest.mark.parametrize("provider", ["postgresql", "mysql"])
async def test_a_manager_named_by_a_mail_in_another_case_resolves_where_the_column_ignores_case(
    provider: SqlProvider,
    ignores_case: bool,
    request: pytest.FixtureRequest,
    pg_database: Login,
    tmp_path: Path,
) -> None:
    pg_database.psql(  # type: ignore[attr-defined]
        "CREATE TABLE hr (emp text, mail text, boss_mail text);"
        "INSERT INTO hr VALUES ('e1', 'Ada@X.org', NULL), ('e2', 'b@x.org', 'ADA@X.ORG');"
    )
    server = request.getfixturevalue("pg_database" if provider == "postgresql" else "my_database")
    run_sql = server.psql if provider == "postgresql" else server.sql
    if provider == "postgresql":
        run_sql("CREATE EXTENSION IF NOT EXISTS citext;")
    column = COLUMNS[(provider, ignores_case)]
    run_sql(
        f"CREATE TABLE people (id varchar(10) PRIMARY KEY, mail {column}, boss varchar(10));"
        "INSERT INTO people VALUES ('e1', 'Ada@X.org', NULL), ('e2', 'b@x.org', NULL);"
    )
    boss = FieldMap(to="boss", from_="boss_mail", resolve=Resolve(type="user", by="mail"))
    the_job = Job(
        id="managers",
        source=Endpoint(connection="hr", table="hr"),
        destination=Endpoint(connection="dir", table="people"),
        objects=[
            ObjectMapping(
                keys=["id"], fields=[FieldMap(to="id", from_="emp"), FieldMap(to="mail"), boss]
            )
        ],
        safety=Safety(max_percent=100),
    )
    source = sql_connection("postgresql", pg_database, tmp_path, "hr")
    target = sql_connection(provider, server, tmp_path / "dir", "dir")
    planned = await plan_between(source, target, the_job, None, Reading())
    if not ignores_case:  # the column holds them apart: nothing is named, the error says why
        assert [e.message for e in planned.record_errors] == [HINT]
        return
    assert planned.record_errors == []
    assert [(c.action, c.key, c.set) for c in planned.plan.changes] == [
        ("update", "e2", {"boss": "e1"})
    ]
