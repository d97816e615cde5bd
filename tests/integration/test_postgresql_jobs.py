"""Jobs from a PostgreSQL table through every service over a real nats-server: to a real
slapd (tests/ldap_server.py) and to a real MariaDB server (tests/mysql_server.py) — the
first run creates every record, a re-run writes nothing."""

from __future__ import annotations

import csv
import io
from pathlib import Path

from services.cli.client import Session
from services.common.people import FIELDS, people
from tests.ldap_server import Slapd
from tests.mysql_server import Server as MysqlServer
from tests.postgresql_server import Server as PostgresqlServer
from tests.sql_servers import connection_toml

from .conftest import RunServices
from .ldap_helpers import define, entries
from .test_ldap_jobs import connections_toml as ldap_connections
from .test_ldap_jobs import run, stamps

COUNT = 200
PERSON = "inetOrgPerson"
SOURCE = """
CREATE TABLE staff (
  employee_id text PRIMARY KEY, first_name text, last_name varchar(80), email text,
  department text, title text, groups text[]
);
"""
FIELDS_TO_LDAP = """fields = [
  { to = "uid", from = "employee_id" },
  { to = "givenName", from = "first_name" },
  { to = "sn", from = "last_name" },
  { to = "cn", transform = { join = ["first_name", "last_name"], separator = " " } },
  { to = "mail", from = "email" },
  { to = "departmentNumber", from = "department" },
  { to = "title" },
  { to = "businessCategory", from = "groups", delimiter = "|" },
]"""


def fill(server: PostgresqlServer) -> list[dict[str, str]]:
    """The table staff with COUNT people (groups as a text[] column); the people."""
    rows = people(COUNT)
    for row in rows:  # mail is IA5 (ASCII) text in LDAP; the made-up people have accents
        row["email"] = f"{row['employee_id'].lower()}@example.org"
    data = io.StringIO()
    writer = csv.writer(data, lineterminator="\n")
    for row in rows:
        groups = "{" + ",".join(row["groups"].split("|")) + "}" if row["groups"] else ""
        writer.writerow([row[f] for f in FIELDS[:-1]] + [groups])
    copy = f"COPY staff ({', '.join(FIELDS)}) FROM STDIN WITH (FORMAT csv);\n"
    server.psql(SOURCE + copy + data.getvalue() + "\\.\n")
    return rows


async def test_postgresql_to_ldap_creates_every_entry_and_a_rerun_writes_nothing(
    pg_database: PostgresqlServer,
    slapd: Slapd,
    ldap_base: str,
    tmp_path: Path,
    session: Session,
    services: RunServices,
) -> None:
    folder = tmp_path / "job"
    rows = fill(pg_database)
    connections = ldap_connections(folder, slapd).replace(
        '[hr]\nprovider = "csv"\ndirectory = "data"\ndelimiter = ";"\n',
        connection_toml("postgresql", "hr", pg_database, folder),
    )
    job = await define(
        session,
        folder,
        connections,
        f"""id = "pg-to-dir"
source = {{ connection = "hr", table = "staff" }}
destination = {{ connection = "dir", container = "{ldap_base}", object_classes = ["{PERSON}"] }}
[[objects]]
keys = ["uid"]
on_destination_only = "delete"
{FIELDS_TO_LDAP}
""",
    )
    async with services():
        first = await run(session, job)
        before = stamps(slapd, ldap_base)
        again = await run(session, job)

    assert (first.stats.created, first.stats.failed) == (COUNT, 0)
    assert (again.stats.written, again.stats.unchanged) == (0, COUNT)
    assert stamps(slapd, ldap_base) == before, "nothing rewritten"
    stored = entries(slapd, ldap_base)
    sample = rows[17]
    entry = stored[f"uid={sample['employee_id']},{ldap_base}"]
    assert entry["cn"] == [f"{sample['first_name']} {sample['last_name']}".encode()]
    assert entry["businessCategory"] == [g.encode() for g in sample["groups"].split("|")]


async def test_postgresql_to_mariadb_creates_the_table_and_a_rerun_writes_nothing(
    pg_database: PostgresqlServer,
    my_database: MysqlServer,
    tmp_path: Path,
    session: Session,
    services: RunServices,
) -> None:
    folder = tmp_path / "job"
    rows = fill(pg_database)
    connections = connection_toml("postgresql", "hr", pg_database, folder) + "\n"
    connections += connection_toml("mysql", "db", my_database, folder)
    job = await define(
        session,
        folder,
        connections,
        """id = "pg-to-maria"
source = { connection = "hr", table = "staff" }
destination = { connection = "db", table = "people" }
[[objects]]
keys = ["employee_id"]
on_destination_only = "delete"
fields = [
  { to = "employee_id" },
  { to = "given_name", from = "first_name" },
  { to = "surname", from = "last_name" },
  { to = "mail", from = "email" },
  { to = "department" },
  { to = "groups", delimiter = "|" },
]
""",
    )
    async with services():
        first = await run(session, job)
        again = await run(session, job)

    assert (first.stats.created, first.stats.failed) == (COUNT, 0)
    assert (again.stats.written, again.stats.updated, again.stats.unchanged) == (0, 0, COUNT)
    out = my_database.sql("SELECT employee_id, surname, `groups` FROM people")
    stored = {line.split("\t")[0]: line.split("\t")[1:] for line in out.splitlines()}
    assert len(stored) == COUNT
    sample = rows[17]
    assert stored[sample["employee_id"]] == [sample["last_name"], sample["groups"]]


async def test_a_row_whose_key_became_null_is_not_deleted_from_mariadb(
    pg_database: PostgresqlServer,
    my_database: MysqlServer,
    tmp_path: Path,
    session: Session,
    services: RunServices,
) -> None:
    # A person's key cleared in the HR table (a botched update, a view's join that found
    # nothing): the row is still there, so its object must not be deleted as absent.
    folder = tmp_path / "job"
    pg_database.psql(
        "CREATE TABLE staff (employee_id text, surname text);"
        "INSERT INTO staff VALUES ('e1', 'Ames'), ('e2', 'Bose'), ('e3', 'Cole');"
    )
    connections = connection_toml("postgresql", "hr", pg_database, folder) + "\n"
    connections += connection_toml("mysql", "db", my_database, folder)
    job = await define(
        session,
        folder,
        connections,
        """id = "pg-null-key"
source = { connection = "hr", table = "staff" }
destination = { connection = "db", table = "people" }
safety = { max_percent = 100 }
[[objects]]
keys = ["employee_id"]
on_destination_only = "delete"
fields = [{ to = "employee_id" }, { to = "surname" }]
""",
    )
    async with services():
        first = await run(session, job)
        pg_database.psql("UPDATE staff SET employee_id = NULL WHERE surname = 'Bose';")
        again = await run(session, job)

    assert first.stats.created == 3
    assert (again.stats.deleted, again.stats.written) == (0, 0)
    assert my_database.sql("SELECT employee_id FROM people ORDER BY 1").split() == [
        "e1",
        "e2",
        "e3",
    ]
