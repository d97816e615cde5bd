"""Keys a source spells otherwise than a typed key column of PostgreSQL or MariaDB reads
them back ("042" into an integer, an upper-case UUID, "2026-1-2" into a date): a first
run creates each object once, in every shape, and every run after it — whole, in little
memory, with creates spilled, scoped to keys, incremental — plans nothing: no object is
created twice nor deleted as absent."""

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

from .test_scoped_reads import applied, plan_between, table
from .test_sql_matrix_typed import SHAPES, shaped, shown

KEYS = {
    # key column type per server, the source's spellings, the keys a --key run asks for
    "integer": ("integer", "INT", ["042", "7", " 8"], ["042", "7", "8"]),
    "uuid": (
        "uuid",
        "UUID",
        ["123E4567-E89B-12D3-A456-426614174000", "{00000000-0000-0000-0000-00000000000a}"],
        ["123E4567-E89B-12D3-A456-426614174000", "00000000-0000-0000-0000-00000000000A"],
    ),
    "date": ("date", "DATE", ["2026-1-2", "2026-01-03"], ["2026-1-2", "2026-01-03"]),
    "numeric": ("numeric(6,2)", "DECIMAL(6,2)", ["1.5", "2"], ["1.5", "2.00"]),
}


def job() -> Job:
    return Job(
        id="keys",
        source=Endpoint(connection="src", table="hr"),
        destination=Endpoint(connection="dst", table="people"),
        objects=[
            ObjectMapping(
                keys=["id"],
                fields=[FieldMap(to="id"), FieldMap(to="name")],
                on_destination_only="delete",
            )
        ],
        changes=Changes(field="modified"),
        safety=Safety(max_percent=100),
    )


@pytest.mark.parametrize("server", ["postgresql", "mariadb"])
@pytest.mark.parametrize("kind", list(KEYS))
async def test_a_key_spelled_otherwise_is_one_object_in_every_shape(
    server: str,
    kind: str,
    request: pytest.FixtureRequest,
    tmp_path: Path,
) -> None:
    pg_type, my_type, spellings, asked = KEYS[kind]
    rows = [(key, f"name {n}", f"2026-01-0{n + 1}") for n, key in enumerate(spellings)]
    table(tmp_path / "hr.db", "hr", ["id", "name", "modified"], rows)
    source: Connection = SqliteConnection(id="src", path=str(tmp_path / "hr.db"))
    if server == "postgresql":
        db: Postgresql = request.getfixturevalue("pg_database")
        db.psql(f"CREATE TABLE people (id {pg_type} PRIMARY KEY, name text)")
        target = sql_connection("postgresql", db, tmp_path, "dst")
    else:
        my: MariaDb = request.getfixturevalue("my_database")
        my.sql(f"CREATE TABLE people (id {my_type} PRIMARY KEY, name TEXT)")
        target = sql_connection("mysql", my, tmp_path, "dst")
    target = msgspec.structs.replace(target, id="dst")
    first = {}
    for shape in SHAPES:
        with shaped(shape):
            first[shape] = await plan_between(source, target, job(), None, Reading())
    assert len({p.plan.hash for p in first.values()}) == 1, {k: shown(p) for k, p in first.items()}
    assert not first["memory"].record_errors
    outcomes, stored = await applied(source, target, job(), first["memory"].plan.changes)
    assert [o.error for o in outcomes] == [None] * len(spellings), outcomes
    assert len(stored) == len(spellings)
    again = {}
    for shape in SHAPES:
        with shaped(shape):
            again[shape] = await plan_between(source, target, job(), None, Reading())
    again["keys"] = await plan_between(source, target, job(), asked, Reading())
    again["incremental"] = await plan_between(
        source, target, job(), None, Reading(incremental=True, since="2026-01-01")
    )
    for shape, planned in again.items():
        assert shown(planned) == [], (shape, shown(planned))
        assert not planned.record_errors, shape
