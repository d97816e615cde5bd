"""Incremental runs from a PostgreSQL and a MariaDB table through every service: the
server picks the rows changed since the watermark (WHERE the column >= it, compared as
the column's type), so a change a fraction of a second after the last run's newest row
is read, and only the changed rows are."""

from __future__ import annotations

from collections.abc import Callable

from schemas.events import RunFinished
from services.cli.client import Session
from services.common.watermarks import Memory
from tests.mysql_server import Server as MysqlServer
from tests.postgresql_server import Server as PostgresqlServer
from tests.sql_servers import connection_toml

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
