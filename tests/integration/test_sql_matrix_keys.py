"""Keys a source spells otherwise than a typed key column of PostgreSQL or MariaDB reads
them back ("042" into an integer, an upper-case UUID, "2026-1-2" into a date): a first
run creates each object once, in every shape, and every run after it — whole, in little
memory, with creates spilled, scoped to keys, incremental — plans nothing: no object is
created twice nor deleted as absent."""

from __future__ import annotations

from pathlib import Path

import msgspec
import pytest

from core.engine.keys import DuplicateKey
from schemas.connections import Connection, SqliteConnection
from schemas.jobs import Changes, Endpoint, FieldMap, Job, ObjectMapping, Safety
from schemas.values import Record
from services.providers.base import Layout
from services.runner.planning.reading import Reading
from tests.mysql_server import Server as MariaDb
from tests.postgresql_server import Server as Postgresql
from tests.sql_servers import opened, read_all, sql_connection

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
    "inet": ("inet", "INET6", ["2001:DB8:0::1", "::FFFF:1.2.3.4"], ["2001:DB8:0::1"]),
    "year": ("smallint", "YEAR", ["1999", "2026"], ["1999"]),
    "mac": (
        "macaddr",
        "VARCHAR(17)",
        ["08-00-2B-01-02-03", "0800.2b01.0204"],
        ["08:00:2b:01:02:03"],
    ),
    "time": ("time", "TIME", ["9:30", "10:00:00"], ["9:30", "10:00"]),
    "moment": (
        "timestamptz",
        "TIMESTAMP",
        ["2026-01-02 03:04:05+01", "2026-01-03T00:00:00Z"],
        ["2026-01-02T02:04:05Z", "2026-01-03 00:00:00+00"],
    ),
    "bigint-text": ("text", "VARCHAR(20)", ["e1", "E2"], ["e1", "E2"]),
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


SPELLINGS = {
    # column: the spellings a source may give, each read back as the server writes it
    "UUID": [
        "123E4567-E89B-12D3-A456-426614174000",
        "123e4567e89b12d3a456426614174002",
        "123e-4567e89b12d3a456426614174003",
    ],
    "INET6": [
        *("::FFFF:1.2.3.4", "2001:DB8:0::1", "::1", "::", "1:0:2:3:4:5:6:7", "::1:2", "1::"),
        *("1:0:0:2:0:0:3:4", "0:0:1::", "::1.2.3.4", "FE80::0001", "::ffff:0:0", "0::ffff"),
    ],
    "INET4": ["1.2.3.4", "01.2.3.004", "255.255.255.255", "0.0.0.0"],
}


@pytest.mark.parametrize("column", list(SPELLINGS))
async def test_a_mariadb_typed_column_compares_as_the_server_writes_it(
    column: str, my_database: MariaDb, tmp_path: Path
) -> None:
    my_database.sql(f"CREATE TABLE spelled (n INT PRIMARY KEY, v {column})")
    values = ", ".join(f"({n}, '{text}')" for n, text in enumerate(SPELLINGS[column]))
    my_database.sql(f"INSERT INTO spelled VALUES {values}")
    connection = sql_connection("mysql", my_database, tmp_path, "my")
    layout = Layout(keys=("n",), fields=("n", "v"))
    side = await opened(connection, Endpoint(connection="my", table="spelled"), layout)
    try:
        stored = await read_all(side)
    finally:
        await side.close()
    given: list[Record] = [{"n": str(n), "v": text} for n, text in enumerate(SPELLINGS[column])]
    assert [side.canonical(record) for record in given] == stored


PG_SPELLINGS = {
    "uuid": ["123E4567-E89B-12D3-A456-426614174000", "{123e4567-e89b-12d3-a456-426614174001}"],
    "inet": [
        *("10.0.0.1", "10.0.0.1/32", "10.0.0.1/24", "10.0.0.0/8", "2001:DB8:0::1"),
        *("2001:db8::1/64", "::FFFF:1.2.3.4", "::1/128"),
    ],
    "cidr": ["10.0.0.0/8", "10.1.0.0/16", "2001:DB8::/32", "192.168.1.0/24"],
    "macaddr": [
        *("08:00:2B:01:02:03", "08-00-2b-01-02-04", "0800.2b01.0205", "08002b010206"),
        *("08002B:010207", "08002b-010208", "0800-2b01-0209"),
    ],
    "macaddr8": ["08:00:2B:01:02:03:04:05", "08-00-2b-01-02-03", "08002b0102030406"],
    "numeric": ["12.50", "1e2", "-0", "0.10"],
    "smallint": ["042", " 7 "],
    "real": ["0.1", "34346.18"],
    '"char"': ["a", "Z"],
    "date": ["infinity", "-Infinity", "2026-1-2"],
    "timestamp(2)": ["infinity", "-infinity", "2026-1-2 3:4:5.125"],
    "timestamptz": ["Infinity", "-infinity", "2026-1-2 3:4:5+01"],
}


@pytest.mark.parametrize("column", list(PG_SPELLINGS))
async def test_a_postgresql_typed_column_compares_as_it_reads_back(
    column: str, pg_database: Postgresql, tmp_path: Path
) -> None:
    pg_database.psql(f"CREATE TABLE spelled (n integer PRIMARY KEY, v {column}, vs {column}[])")
    spellings = PG_SPELLINGS[column]
    values = ", ".join(
        f"({n}, '{text}', ARRAY['{text}', '{spellings[0]}']::{column}[])"
        for n, text in enumerate(spellings)
    )
    pg_database.psql(f"INSERT INTO spelled VALUES {values}")
    connection = sql_connection("postgresql", pg_database, tmp_path, "pg")
    layout = Layout(keys=("n",), fields=("n", "v", "vs"), multi_valued={"vs": "|"})
    side = await opened(connection, Endpoint(connection="pg", table="spelled"), layout)
    try:
        stored = await read_all(side)
    finally:
        await side.close()
    given: list[Record] = [
        {"n": str(n), "v": text, "vs": [text, spellings[0]]} for n, text in enumerate(spellings)
    ]
    assert [side.canonical(record) for record in given] == stored
    if "(" in column:
        return  # a query's statement says no type's modifier: its spelling is not known
    query = Endpoint(connection="pg", query="SELECT * FROM spelled ORDER BY n")
    selected = await opened(connection, query, layout)  # a `where` on it spells so
    try:
        assert [selected.canonical(record) for record in given] == await read_all(selected)
    finally:
        await selected.close()


@pytest.mark.parametrize("server", ["postgresql", "mariadb"])
async def test_two_keys_one_column_reads_alike_are_refused_in_every_shape(
    server: str, request: pytest.FixtureRequest, tmp_path: Path
) -> None:
    rows = [("042", "a", "2026-01-02"), ("42", "b", "2026-01-03"), ("7", "c", "2026-01-03")]
    table(tmp_path / "hr.db", "hr", ["id", "name", "modified"], rows)
    source: Connection = SqliteConnection(id="src", path=str(tmp_path / "hr.db"))
    if server == "postgresql":
        db: Postgresql = request.getfixturevalue("pg_database")
        db.psql("CREATE TABLE people (id integer PRIMARY KEY, name text)")
        target = sql_connection("postgresql", db, tmp_path, "dst")
    else:
        my: MariaDb = request.getfixturevalue("my_database")
        my.sql("CREATE TABLE people (id INT PRIMARY KEY, name TEXT)")
        target = sql_connection("mysql", my, tmp_path, "dst")
    target = msgspec.structs.replace(target, id="dst")
    ways: dict[str, tuple[list[str] | None, Reading]] = {
        **{shape: (None, Reading()) for shape in SHAPES},
        "keys": (["42"], Reading()),
        "incremental": (None, Reading(incremental=True, since="2026-01-02")),
    }
    refused = {}
    for shape, (keys, reading) in ways.items():
        with shaped(shape if shape in SHAPES else "memory"):
            try:
                planned = await plan_between(source, target, job(), keys, reading)
                refused[shape] = str(shown(planned))
            except DuplicateKey:
                refused[shape] = "DuplicateKey"
    assert refused == dict.fromkeys(ways, "DuplicateKey")


@pytest.mark.parametrize("unique", [True, False], ids=["keyed-table", "heap"])
@pytest.mark.parametrize("server", ["postgresql", "mariadb"])
@pytest.mark.parametrize("kind", ["integer", "uuid", "date", "inet"])
async def test_a_batch_delivered_again_into_typed_keys_doubles_nothing(
    server: str, kind: str, unique: bool, request: pytest.FixtureRequest, tmp_path: Path
) -> None:
    """A first run's batch applied twice (a runner that died before it said so), then a
    batch of updates and deletes twice: the table holds each object once, as after one."""
    pg_type, my_type, spellings, _ = KEYS[kind]
    rows = [(key, f"name {n}", "2026-01-02") for n, key in enumerate(spellings)]
    table(tmp_path / "hr.db", "hr", ["id", "name", "modified"], rows)
    source: Connection = SqliteConnection(id="src", path=str(tmp_path / "hr.db"))
    key = " PRIMARY KEY" if unique else ""
    if server == "postgresql":
        db: Postgresql = request.getfixturevalue("pg_database")
        db.psql(f"CREATE TABLE people (id {pg_type}{key}, name text)")
        target = sql_connection("postgresql", db, tmp_path, "dst")
    else:
        my: MariaDb = request.getfixturevalue("my_database")
        my.sql(f"CREATE TABLE people (id {my_type}{key}, name TEXT)")
        target = sql_connection("mysql", my, tmp_path, "dst")
    target = msgspec.structs.replace(target, id="dst")
    first = await plan_between(source, target, job(), None, Reading())
    for _ in range(2):
        outcomes, stored = await applied(source, target, job(), first.plan.changes)
        assert [o.error for o in outcomes] == [None] * len(spellings), outcomes
        assert len(stored) == len(spellings), stored
    renamed = [(spellings[0], "renamed", "2026-01-03")]
    (tmp_path / "hr.db").unlink()
    table(tmp_path / "hr.db", "hr", ["id", "name", "modified"], renamed)
    second = await plan_between(source, target, job(), None, Reading())
    assert sorted(c.action for c in second.plan.changes) == ["delete"] * (len(spellings) - 1) + [
        "update"
    ]
    for _ in range(2):
        outcomes, stored = await applied(source, target, job(), second.plan.changes)
        assert [o.error for o in outcomes] == [None] * len(second.plan.changes), outcomes
        assert [r["name"] for r in stored] == ["renamed"], stored
