"""A reference looks its value up as the destination holds it: a manager named by an
employee number "042" is the person whose integer column holds 42 — as the person's own
"042" is that 42, unchanged — in a PostgreSQL or MariaDB table; one named by a mail in
another case is the person whose mail a column without case (citext, a _ci collation)
holds equal."""

from __future__ import annotations

from pathlib import Path

import pytest

from schemas.jobs import Endpoint, FieldMap, Job, ObjectMapping, Resolve, Safety
from services.runner.planning import PlannedRun
from services.runner.planning.reading import Reading
from tests.sql_servers import Login, SqlProvider, sql_connection

from .test_scoped_reads import plan_between


def managers(field: str, named_in: str) -> Job:
    """People (`id` from `emp`, and `field`) whose manager's `field` is in `named_in`."""
    boss = FieldMap(to="boss", from_=named_in, resolve=Resolve(type="user", by=field))
    return Job(
        id="managers",
        source=Endpoint(connection="hr", table="hr"),
        destination=Endpoint(connection="dir", table="people"),
        objects=[
            ObjectMapping(
                keys=["id"], fields=[FieldMap(to="id", from_="emp"), FieldMap(to=field), boss]
            )
        ],
        safety=Safety(max_percent=100),
    )


async def planned(
    provider: SqlProvider, server: Login, pg_database: Login, tmp_path: Path, the_job: Job
) -> PlannedRun:
    """The job planned from the PostgreSQL table `hr` into `server`'s table `people`."""
    source = sql_connection("postgresql", pg_database, tmp_path, "hr")
    target = sql_connection(provider, server, tmp_path / "dir", "dir")
    return await plan_between(source, target, the_job, None, Reading())


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
    run = await planned(provider, server, pg_database, tmp_path, managers("empno", "boss_no"))
    assert run.record_errors == []
    assert [(c.action, c.key, c.set) for c in run.plan.changes] == [
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
    run = await planned(provider, server, pg_database, tmp_path, managers("mail", "boss_mail"))
    if not ignores_case:  # the column holds them apart: nothing is named, the error says why
        assert [e.message for e in run.record_errors] == [HINT]
        return
    assert run.record_errors == []
    assert [(c.action, c.key, c.set) for c in run.plan.changes] == [
        ("update", "e2", {"boss": "e1"})
    ]
