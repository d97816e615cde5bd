"""Jobs run through every service over a real nats-server and a real MariaDB server
(tests/mysql_server.py): CSV to a MariaDB table the first run creates, and a MariaDB
table to SQLite."""

from __future__ import annotations

from core.runs import fold
from schemas.events import tag_of
from services.cli.client import Session
from services.common.people import write_csv
from tests.mysql_server import Server
from tests.sql_servers import connection_toml

from .conftest import Files, RunServices, apply_files
from .test_flow import FULL_FLOW, run_job, table


def stored(server: Server) -> dict[str, list[str]]:
    """employee_id → department and groups, as the mariadb client shows them."""
    out = server.sql("SELECT employee_id, department, `groups` FROM people")
    return {line.split("\t")[0]: line.split("\t")[1:] for line in out.splitlines() if line}


async def test_csv_to_mysql_creates_updates_deletes_and_a_rerun_changes_nothing(
    files: Files, session: Session, services: RunServices, my_database: Server
) -> None:
    rows = files.write(count=60)
    connections = files.connections.read_text()
    sqlite = connections.index("[db]")
    files.connections.write_text(
        connections[:sqlite] + connection_toml("mysql", "db", my_database, files.folder)
    )
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
    people = stored(my_database)
    assert len(people) == 59 and left["employee_id"] not in people
    assert people[rows[3]["employee_id"]] == ["Somewhere else", rows[3]["groups"]]
    runs = fold(await session.journal())
    assert runs[0].events == FULL_FLOW
    assert all(tag_of(e) != "run.failed" for e in await session.journal())


SOURCE = """
CREATE TABLE people (
  employee_id int PRIMARY KEY, first_name varchar(50), last_name varchar(50),
  email varchar(100), department varchar(50), `groups` text, hired date
) CHARACTER SET utf8mb4;
INSERT INTO people VALUES
  (1, 'Ann', 'Lee', 'ann@example.org', 'Sales', 'staff|vpn', '2020-01-02'),
  (2, 'Bo', 'Chen', NULL, 'IT', 'staff', NULL),
  (3, 'Cy', 'Díaz', 'cy@example.org', NULL, NULL, '2021-03-04');
"""


async def test_mysql_to_sqlite_reads_a_table_and_a_rerun_changes_nothing(
    files: Files, session: Session, services: RunServices, my_database: Server
) -> None:
    files.write(count=0)
    my_database.sql(SOURCE)
    connections = files.connections.read_text()
    start, end = connections.index("[hr]"), connections.index("[db]")
    replaced = connection_toml("mysql", "hr", my_database, files.folder)
    files.connections.write_text(connections[:start] + replaced + "\n" + connections[end:])
    files.job.write_text(files.job.read_text().replace('file = "people.csv"', 'table = "people"'))
    await apply_files(session, files)
    async with services():
        first = await run_job(session)
        again = await run_job(session)
        my_database.sql("UPDATE people SET department = 'Legal' WHERE employee_id = 2")
        third = await run_job(session)

    assert (first.stats.created, first.stats.failed) == (3, 0)
    assert (again.stats.written, again.stats.unchanged) == (0, 3)
    assert (third.stats.updated, third.stats.unchanged) == (1, 2)
    people = table(files.db)
    assert people["1"]["groups"] == "staff|vpn" and people["3"]["surname"] == "Díaz"
    assert people["2"]["department"] == "Legal" and people["2"]["mail"] is None
