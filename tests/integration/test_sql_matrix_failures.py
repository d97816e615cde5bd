"""A record that fails holds its object in a typed PostgreSQL or MariaDB table, whatever
the shape of the job, when the source spells its key otherwise than the key column reads
it back ("042" for 42, an upper-case UUID, "2026-1-2" for a date): a failure never looks
like absence."""

from __future__ import annotations

from pathlib import Path

import msgspec
import pytest

from schemas.connections import Connection, SqliteConnection
from schemas.jobs import Changes, Endpoint, FieldMap, Job, ObjectMapping, Safety
from services.runner.planning.reading import Reading
from tests.mysql_server import Server as MariaDb
from tests.postgresql_server import Server as Postgresql
from tests.sql_servers import sql_connection

from .test_scoped_reads import plan_between, table
from .test_sql_matrix_typed import SHAPES, shaped, shown

KEYS = {
    # key column per server, the stored keys, the source's spellings of them
    "integer": ("integer", "INT", ["42", "7"], ["042", "7"]),
    "uuid": (
        "uuid",
        "UUID",
        ["123e4567-e89b-12d3-a456-426614174000", "123e4567-e89b-12d3-a456-426614174001"],
        ["123E4567-E89B-12D3-A456-426614174000", "123e4567-e89b-12d3-a456-426614174001"],
    ),
    "date": ("date", "DATE", ["2026-01-02", "2026-01-03"], ["2026-1-2", "2026-01-03"]),
}


def job() -> Job:
    return Job(
        id="held",
        source=Endpoint(connection="src", table="hr"),
        destination=Endpoint(connection="dst", table="people"),
        objects=[
            ObjectMapping(
                keys=["id"],
                fields=[
                    FieldMap(to="id"),
                    FieldMap(to="dept", transform={"map": {"Sales": "S"}}),
                ],
                on_destination_only="delete",
            )
        ],
        changes=Changes(field="modified"),
        safety=Safety(max_percent=100),
    )


@pytest.mark.parametrize("server", ["postgresql", "mariadb"])
@pytest.mark.parametrize("kind", list(KEYS))
async def test_a_record_that_fails_holds_its_object_whose_key_reads_otherwise(
    server: str, kind: str, request: pytest.FixtureRequest, tmp_path: Path
) -> None:
    pg_type, my_type, stored, spelled = KEYS[kind]
    rows = [(spelled[0], "Nowhere", "2026-02-01"), (spelled[1], "Sales", "2026-02-01")]
    table(tmp_path / "hr.db", "hr", ["id", "dept", "modified"], rows)
    source: Connection = SqliteConnection(id="src", path=str(tmp_path / "hr.db"))
    values = ", ".join(f"('{key}', 'S')" for key in stored)
    if server == "postgresql":
        db: Postgresql = request.getfixturevalue("pg_database")
        db.psql(f"CREATE TABLE people (id {pg_type} PRIMARY KEY, dept text);")
        db.psql(f"INSERT INTO people VALUES {values}")
        target = sql_connection("postgresql", db, tmp_path, "dst")
    else:
        my: MariaDb = request.getfixturevalue("my_database")
        my.sql(f"CREATE TABLE people (id {my_type} PRIMARY KEY, dept TEXT)")
        my.sql(f"INSERT INTO people VALUES {values}")
        target = sql_connection("mysql", my, tmp_path, "dst")
    target = msgspec.structs.replace(target, id="dst")
    planned = {}
    for shape in SHAPES:
        with shaped(shape):
            planned[shape] = await plan_between(source, target, job(), None, Reading())
    planned["keys"] = await plan_between(source, target, job(), stored, Reading())
    planned["incremental"] = await plan_between(
        source, target, job(), None, Reading(incremental=True, since="2026-01-01")
    )
    for shape, plan in planned.items():
        assert shown(plan) == [], (shape, shown(plan))
        assert [e.key for e in plan.record_errors] == [spelled[0]], shape
