"""Incremental runs from a PostgreSQL and a MariaDB table through every service: the
server picks the rows changed since the watermark (WHERE the column >= it, compared as
the column's type), so a change a fraction of a second after the last run's newest row
is read, and only the changed rows are."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from schemas.events import RunFinished
from schemas.jobs import Endpoint
from services.cli.client import Session
from services.common.watermarks import Memory
from services.providers.base import ChangeReader, FallsBack, Layout
from tests.mysql_server import Server as MysqlServer
from tests.postgresql_server import Server as PostgresqlServer
from tests.sql_servers import SqlProvider, connection_toml, opened, sql_connection

from .conftest import JOB_ID, Files, RunServices, apply_files, job_toml
from .test_flow import table
from .test_incremental import CHANGES, planned, run

ROWS = ",\n".join(
    f"({i}, 'Given{i}', 'Sur{i}', 'p{i}@example.org', 'Sales', 'staff', '2026-11-01 00:{i:02d}:00')"
    for i in range(1, 21)
)
LATER = "2026-11-01 00:20:00.25"
"""A quarter of a second after the newest row: as text, "…:00.250000Z" sorts before
"…:00Z", so only a comparison in the column's own type finds it."""
CHANGED = (
    f"UPDATE people SET department = 'Moved', modified_at = '{LATER}' WHERE employee_id IN (3, 20)"
)

PG_SOURCE = f"""
CREATE TABLE people (
  employee_id int PRIMARY KEY, first_name text, last_name text, email text,
  department text, groups text, modified_at timestamptz
);
INSERT INTO people VALUES {ROWS};
"""
MY_SOURCE = f"""
CREATE TABLE people (
  employee_id int PRIMARY KEY, first_name varchar(50), last_name varchar(50),
  email varchar(100), department varchar(50), `groups` text, modified_at timestamp(6) NULL
) CHARACTER SET utf8mb4;
INSERT INTO people VALUES {ROWS};
"""


def source_from(files: Files, connection: str) -> None:
    """The job reads the table people of `connection` (its [hr]) into SQLite."""
    connections = files.connections.read_text()
    start, end = connections.index("[hr]"), connections.index("[db]")
    files.connections.write_text(connections[:start] + connection + "\n" + connections[end:])
    job = job_toml(extra=CHANGES).replace('file = "people.csv"', 'table = "people"')
    files.job.write_text(job)


async def changed_only_reads_the_two_changed_rows(
    files: Files, session: Session, services: RunServices, change: Callable[[], object]
) -> str | None:
    """A full run, then two rows changed, then a changed-only run; the watermark after."""
    await apply_files(session, files)
    memory = Memory(session.js)
    async with services():
        _, first = await run(session)
        assert isinstance(first, RunFinished) and first.stats.created == 20, first
        change()
        run_id, second = await run(session, changed_only=True)
    assert isinstance(second, RunFinished), second
    plan = await planned(session, run_id)
    assert plan.incremental and plan.source_records == 2, "only the two changed rows were read"
    assert (second.stats.updated, second.stats.created, second.stats.deleted) == (2, 0, 0)
    people = table(files.db)
    assert [people[k]["department"] for k in ("3", "20", "4")] == ["Moved", "Moved", "Sales"]
    mark = await memory.watermark(JOB_ID)
    return mark.value if mark is not None else None


async def test_postgresql_changed_only_reads_the_rows_changed_since_on_the_server(
    files: Files, session: Session, services: RunServices, pg_database: PostgresqlServer
) -> None:
    files.write(count=0)
    source_from(files, connection_toml("postgresql", "hr", pg_database, files.folder))
    pg_database.psql(PG_SOURCE)
    mark = await changed_only_reads_the_two_changed_rows(
        files, session, services, lambda: pg_database.psql(CHANGED)
    )
    assert mark == "2026-11-01T00:20:00.250000Z"


async def test_mysql_changed_only_reads_the_rows_changed_since_on_the_server(
    files: Files, session: Session, services: RunServices, my_database: MysqlServer
) -> None:
    files.write(count=0)
    source_from(files, connection_toml("mysql", "hr", my_database, files.folder))
    my_database.sql("SET time_zone = '+00:00';" + MY_SOURCE)
    mark = await changed_only_reads_the_two_changed_rows(
        files, session, services, lambda: my_database.sql("SET time_zone = '+00:00';" + CHANGED)
    )
    assert mark == "2026-11-01T00:20:00.250000Z"


UNORDINARY: dict[str, tuple[SqlProvider, str, str]] = {
    "postgresql timestamptz": (
        "postgresql",
        "CREATE TABLE hr (emp text PRIMARY KEY, seen timestamptz);"
        "INSERT INTO hr VALUES ('e1', 'infinity'), ('e2', '-infinity'),"
        " ('e3', '2026-01-02 03:04:05+02'), ('e4', NULL), ('e5', '2026-01-01 00:00:00Z');",
        "2026-01-02T01:04:05Z",
    ),
    "postgresql timestamp": (
        "postgresql",
        "CREATE TABLE hr (emp text PRIMARY KEY, seen timestamp);"
        "INSERT INTO hr VALUES ('e1', 'infinity'), ('e2', '-infinity'),"
        " ('e3', '2026-01-02 03:04:05'), ('e4', NULL), ('e5', '2026-01-01 00:00:00');",
        "2026-01-02T03:04:05",
    ),
    "postgresql date": (
        "postgresql",
        "CREATE TABLE hr (emp text PRIMARY KEY, seen date);"
        "INSERT INTO hr VALUES ('e1', 'infinity'), ('e2', '-infinity'),"
        " ('e3', '2026-01-02'), ('e4', NULL), ('e5', '2026-01-01');",
        "2026-01-02",
    ),
    "postgresql float": (
        "postgresql",
        "CREATE TABLE hr (emp text PRIMARY KEY, seen float8);"
        "INSERT INTO hr VALUES ('e1', 'NaN'), ('e2', '-Infinity'), ('e3', 7), ('e4', NULL),"
        " ('e5', 3), ('e6', 'Infinity');",
        "7.0",
    ),
    "mariadb datetime": (
        "mysql",
        "SET SESSION sql_mode = 'ALLOW_INVALID_DATES';"
        "CREATE TABLE hr (emp varchar(10) PRIMARY KEY, seen datetime);"
        "INSERT INTO hr VALUES ('e1', '2026-02-00 10:00:00'), ('e2', '0000-00-00 00:00:00'),"
        " ('e3', '2026-01-02 03:04:05'), ('e4', NULL), ('e5', '2026-01-01 00:00:00');",
        "2026-01-02T03:04:05",
    ),
}


@pytest.mark.parametrize("case", list(UNORDINARY))
async def test_a_change_column_holding_no_moment_in_some_rows_keeps_its_watermark(
    case: str, request: pytest.FixtureRequest, tmp_path: Path
) -> None:
    # PostgreSQL's infinity became the watermark (9999-12-31T23:59:59.999999): every
    # later run read the rows of infinity alone, and no change was seen again — NaN
    # likewise; in a timestamptz column, or a MariaDB one holding a date it allows but
    # Python does not (2026-02-00), the read failed ("'>' not supported", "can't compare
    # offset-naive and offset-aware datetimes"). Such a row is read and planned; the
    # watermark is the highest moment (number) of the others.
    provider, setup, mark = UNORDINARY[case]
    server = request.getfixturevalue("pg_database" if provider == "postgresql" else "my_database")
    (server.psql if provider == "postgresql" else server.sql)(setup)
    connection = sql_connection(provider, server, tmp_path, "hr")
    layout = Layout(keys=("emp",), fields=("emp", "seen"))
    read: list[list[str]] = []
    since = None
    for _ in range(2):
        source = await opened(connection, Endpoint(connection="hr", table="hr"), layout)
        assert isinstance(source, ChangeReader)
        try:
            records = [r async for batch in source.read_changed(100, since, "seen") for r in batch]
            read.append(sorted(str(record["emp"]) for record in records))
            since = source.watermark()
        finally:
            await source.close()
        assert since == mark
    floats = case == "postgresql float"
    assert read[0] == ["e1", "e2", "e3", "e4", "e5", *(["e6"] if floats else [])]
    # Then the rows from the watermark on, those of no value, and those the server orders
    # above any (infinity, NaN; 2026-02-00, after 2026-01-02).
    assert read[1] == ["e1", "e3", "e4", *(["e6"] if floats else [])]
    # A watermark kept so before: passed over, every row read.
    stored = "nan" if floats else "9999-12-31T23:59:59.999999"
    source = await opened(connection, Endpoint(connection="hr", table="hr"), layout)
    assert isinstance(source, ChangeReader) and isinstance(source, FallsBack)
    try:
        records = [r async for batch in source.read_changed(100, stored, "seen") for r in batch]
        assert len(records) == len(read[0]) and source.watermark() == mark
        assert "ignored, every record read" in (source.fell_back() or "")
    finally:
        await source.close()


@pytest.mark.parametrize("kind", ["timestamptz", "timestamp", "date"])
async def test_a_query_whose_change_column_holds_infinity_keeps_its_watermark(
    kind: str, pg_database: PostgresqlServer, tmp_path: Path
) -> None:
    # A job's SELECT is filtered here, by the values as read: infinity read as
    # 9999-12-31T23:59:59.999999Z (9999-12-31 in a date column) became the watermark, and
    # every later run read the rows holding it alone, no change seen again.
    pg_database.psql(
        f"CREATE TABLE hr (emp text PRIMARY KEY, seen {kind});"
        "INSERT INTO hr VALUES ('e1', 'infinity'), ('e2', '-infinity'),"
        " ('e3', '2026-01-02 03:04:05'), ('e4', NULL), ('e5', '2026-01-01');"
    )
    connection = sql_connection("postgresql", pg_database, tmp_path, "hr")
    layout = Layout(keys=("emp",), fields=("emp", "seen"))
    query = Endpoint(connection="hr", query="SELECT emp, seen FROM hr")
    marks: list[str | None] = []
    read: list[list[str]] = []
    since = None
    for _ in range(2):
        source = await opened(connection, query, layout)
        assert isinstance(source, ChangeReader)
        try:
            records = [r async for batch in source.read_changed(100, since, "seen") for r in batch]
            read.append(sorted(str(record["emp"]) for record in records))
            since = source.watermark()
            marks.append(since)
        finally:
            await source.close()
    assert marks[0] is not None and marks[0].startswith("2026-01-0"), marks
    assert marks[1] == marks[0]
    assert read == [["e1", "e2", "e3", "e4", "e5"], ["e1", "e3", "e4"]]
    # A watermark kept so before: passed over, every row read.
    source = await opened(connection, query, layout)
    assert isinstance(source, ChangeReader) and isinstance(source, FallsBack)
    try:
        stored = "9999-12-31T23:59:59.999999Z"
        records = [r async for batch in source.read_changed(100, stored, "seen") for r in batch]
        assert len(records) == 5 and source.watermark() == marks[0]
        assert "ignored, every record read" in (source.fell_back() or "")
    finally:
        await source.close()
