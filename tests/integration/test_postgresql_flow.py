"""A job runs from CSV to a PostgreSQL table through every service over a real
nats-server and a real PostgreSQL server (tests/postgresql_server.py)."""

from __future__ import annotations

from core.runs import fold
from schemas.events import RunFinished, tag_of
from services.cli.client import Session
from services.cli.watch import follow_run
from services.common.people import write_csv
from tests.postgresql_server import Server
from tests.sql_servers import connection_toml

from .conftest import JOB_ID, Files, RunServices, apply_files
from .test_flow import FULL_FLOW, run_job

TABLE = """
CREATE SCHEMA hr;
CREATE TABLE hr.people (
  employee_id text PRIMARY KEY,
  given_name text,
  surname varchar(100),
  mail text,
  department text,
  groups text[]
);
"""


def use_postgresql(files: Files, server: Server) -> None:
    """The job's destination becomes the table hr.people of the test's database."""
    connections = files.connections.read_text()
    sqlite = connections.index("[db]")
    db = connection_toml("postgresql", "db", server, files.folder)
    files.connections.write_text(connections[:sqlite] + db)
    files.job.write_text(files.job.read_text().replace('table = "people"', 'table = "hr.people"'))
    server.psql(TABLE)


def stored(server: Server) -> dict[str, list[str]]:
    """employee_id → the other columns, as psql shows them."""
    out = server.psql("SELECT employee_id, department, groups FROM hr.people")
    return {line.split("|")[0]: line.split("|")[1:] for line in out.splitlines() if line}


async def test_csv_to_postgresql_creates_updates_deletes_and_a_rerun_changes_nothing(
    files: Files, session: Session, services: RunServices, pg_database: Server
) -> None:
    rows = files.write(count=60)
    use_postgresql(files, pg_database)
    await apply_files(session, files)
    async with services():
        first = await run_job(session)
        again = await run_job(session)
        rows[3]["department"] = "Somewhere else"
        left = rows.pop(10)
        write_csv(files.csv, rows)
        third = await run_job(session)

    assert (first.stats.created, first.stats.failed) == (60, 0)
    assert (again.stats.written, again.stats.updated, again.stats.unchanged) == (0, 0, 60)
    assert (third.stats.updated, third.stats.deleted, third.stats.created) == (1, 1, 0)
    table = stored(pg_database)
    assert len(table) == 59 and left["employee_id"] not in table
    department, groups = table[rows[3]["employee_id"]]
    assert department == "Somewhere else"
    assert groups == "{" + ",".join(rows[3]["groups"].split("|")) + "}"  # a text[] column
    runs = fold(await session.journal())
    assert runs[0].events == FULL_FLOW
    assert all(tag_of(e) != "run.failed" for e in await session.journal())


async def test_a_first_run_of_many_batches_makes_the_table_once_and_writes_every_row(
    files: Files, session: Session, services: RunServices, pg_database: Server
) -> None:
    """The table does not exist yet: the first batches, applied at once by the runner,
    each find it missing; one makes it, and none fails for the others' doing so."""
    files.write(count=1_200, batch_size=100)
    connections = files.connections.read_text()
    db = connection_toml("postgresql", "db", pg_database, files.folder)
    files.connections.write_text(connections[: connections.index("[db]")] + db)
    await apply_files(session, files)
    async with services():
        _, end = await follow_run(session, JOB_ID, None)
    assert isinstance(end, RunFinished), end
    assert (end.stats.created, end.stats.failed) == (1_200, 0)
    assert pg_database.psql("SELECT count(*) FROM people").strip() == "1200"
