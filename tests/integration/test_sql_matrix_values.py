"""Values a text source spells otherwise than typed PostgreSQL and MariaDB columns read
them back — typed arrays, YEAR, BIT, SET, ENUM, fractions of a second, floats, binary —
written by a first run planned in every shape, then planned again in every shape, scoped
to keys and incremental: nothing to do (no phantom update), and the same first plan
(one hash) whichever way it was planned."""

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

CASES = {
    # column: (PostgreSQL type, MariaDB type, the source's spellings, a delimiter)
    "ints": ("integer[]", "TEXT", ["042|7", "1|01|1", ""], "|"),
    "uuids": ("uuid[]", "TEXT", ["123E4567-E89B-12D3-A456-426614174000", ""], "|"),
    "flags": ("boolean[]", "TEXT", ["t|no|YES", "on"], "|"),
    "days": ("date[]", "TEXT", ["2026-1-2|2026-01-03 00:00:00", "1999-12-31"], "|"),
    "amounts": ("numeric(8,2)[]", "TEXT", ["1.5|-0|2", "3"], "|"),
    "year": ("smallint", "YEAR", ["26", "99", "2001", "0026"], None),
    "bit": ("bit(1)", "BIT(1)", ["1", "0"], None),
    "bits": ("varbit", "BIT(8)", ["101", "0"], None),
    "set": ("text", "SET('x','y','z')", ["y,x", "Z,x,x", ""], None),
    "enum": ("text", "ENUM('Active','Gone')", ["active", "GONE "], None),
    "set list": ("text[]", "SET('x','y','z')", ["y,x", "Z,x,x", "z"], ","),
    "millis": ("timestamp(3)", "DATETIME(3)", ["2026-01-02 03:04:05.1239", "2026-1-2 3:4:5"], None),
    "clock": ("time(0)", "TIME", ["9:30", "09:30:00.4", "23:59:59"], None),
    "single": ("real", "FLOAT", ["34346.18", "0.1", "-0"], None),
    "double": ("double precision", "DOUBLE", ["0.50", "1e2", "-0"], None),
    "fixed": ("bytea", "BINARY(4)", ["ab", "abcd"], None),
    "padded": ("char(4)", "CHAR(4)", ["ab", "ab  ", " ab"], None),
    "doc": ("jsonb", "JSON", ['{"b": 1, "a": [1.0, 2]}', "1e2"], None),
    "moment": ("timestamptz(0)", "TIMESTAMP", ["2026-01-02 03:04:05.6+01", "2026-1-2"], None),
    "int words": ("integer", "INT", ["+5", " 6 ", "-0"], None),  # "7.0": PostgreSQL refuses it
    "bool words": ("boolean", "BOOLEAN", ["Y", "n", "T", "off", "TRUE "], None),
    "decimal words": ("numeric(6,2)", "DECIMAL(6,2)", ["+1.50", ".5", "5.", "1E1"], None),
    "double words": ("double precision", "DOUBLE", ["1E2", ".5", "+2", "1e-7"], None),
    "uuid spaced": ("uuid", "UUID", [" 123e4567-e89b-12d3-a456-426614174000 "], None),
    "json escapes": ("jsonb", "JSON", ['"\\u00e9"', '{"a":"\\u00e9\\n"}', "[1E2, -0.0]"], None),
    "bigint": ("bigint", "BIGINT UNSIGNED", ["9223372036854775807", "0042"], None),
    "span": ("text", "TIME(1)", ["-1:00:00", "26:00:00", "1 02:00:00", "-0:00:01.56"], None),
    "slashed": ("timestamp", "DATETIME", ["2026/01/02 03:04:05", "2026.1.2"], None),
    "slashed day": ("date", "DATE", ["2026/01/02", "2026.1.3", "2026/1/4 00:00"], None),
}


def job(delimiter: str | None) -> Job:
    return Job(
        id="values",
        source=Endpoint(connection="src", table="hr"),
        destination=Endpoint(connection="dst", table="people"),
        objects=[
            ObjectMapping(
                keys=["id"],
                fields=[FieldMap(to="id"), FieldMap(to="v", delimiter=delimiter)],
                on_destination_only="delete",
            )
        ],
        changes=Changes(field="modified"),
        safety=Safety(max_percent=100),
    )


@pytest.mark.parametrize("server", ["postgresql", "mariadb"])
@pytest.mark.parametrize("case", list(CASES))
async def test_a_value_spelled_otherwise_is_written_once_and_never_again(
    server: str, case: str, request: pytest.FixtureRequest, tmp_path: Path
) -> None:
    pg_type, my_type, spellings, delimiter = CASES[case]
    rows = [(f"k{n}", text, f"2026-01-0{n + 1}") for n, text in enumerate(spellings)]
    table(tmp_path / "hr.db", "hr", ["id", "v", "modified"], rows)
    source: Connection = SqliteConnection(id="src", path=str(tmp_path / "hr.db"))
    if server == "postgresql":
        db: Postgresql = request.getfixturevalue("pg_database")
        db.psql(f"CREATE TABLE people (id text PRIMARY KEY, v {pg_type})")
        target = sql_connection("postgresql", db, tmp_path, "dst")
    else:
        my: MariaDb = request.getfixturevalue("my_database")
        my.sql(f"CREATE TABLE people (id VARCHAR(10) PRIMARY KEY, v {my_type})")
        target = sql_connection("mysql", my, tmp_path, "dst")
    target = msgspec.structs.replace(target, id="dst")
    the_job = job(delimiter)
    first = {}
    for shape in SHAPES:
        with shaped(shape):
            first[shape] = await plan_between(source, target, the_job, None, Reading())
    assert len({p.plan.hash for p in first.values()}) == 1, {k: shown(p) for k, p in first.items()}
    assert not first["memory"].record_errors, first["memory"].record_errors
    outcomes, _ = await applied(source, target, the_job, first["memory"].plan.changes)
    assert [o.error for o in outcomes] == [None] * len(spellings), outcomes
    again = {}
    for shape in SHAPES:
        with shaped(shape):
            again[shape] = await plan_between(source, target, the_job, None, Reading())
    keys = [key for key, *_ in rows]
    again["keys"] = await plan_between(source, target, the_job, keys, Reading())
    again["incremental"] = await plan_between(
        source, target, the_job, None, Reading(incremental=True, since="2026-01-01")
    )
    for shape, planned in again.items():
        assert shown(planned) == [], (shape, shown(planned))


POLICIES = {
    # field, PostgreSQL type, MariaDB type, the row's value there, the source's, policy,
    # what the row holds after the run
    "merge ints": ("integer[]", "TEXT", "{42,9}", "042|7", "merge", ["42", "9", "7"]),
    "merge uuids": (
        "uuid[]",
        "TEXT",
        "{123e4567-e89b-12d3-a456-426614174000}",
        "123E4567-E89B-12D3-A456-426614174000",
        "merge",
        ["123e4567-e89b-12d3-a456-426614174000"],
    ),
    "keep number": ("numeric(6,2)", "DECIMAL(6,2)", "1.50", "2", "keep", "1.50"),
    "keep empty": ("date", "DATE", None, "2026-1-2", "keep", "2026-01-02"),
}


@pytest.mark.parametrize("server", ["postgresql", "mariadb"])
@pytest.mark.parametrize("case", list(POLICIES))
async def test_a_policy_on_a_typed_column_converges_in_every_shape(
    server: str, case: str, request: pytest.FixtureRequest, tmp_path: Path
) -> None:
    pg_type, my_type, there, given, policy, after = POLICIES[case]
    if server == "mariadb" and my_type == "TEXT":
        pytest.skip("a MariaDB column holds no list but as text: tried on PostgreSQL")
    table(tmp_path / "hr.db", "hr", ["id", "v", "modified"], [("k1", given, "2026-01-02")])
    source: Connection = SqliteConnection(id="src", path=str(tmp_path / "hr.db"))
    stored = "NULL" if there is None else f"'{there}'"
    if server == "postgresql":
        db: Postgresql = request.getfixturevalue("pg_database")
        db.psql(f"CREATE TABLE people (id text PRIMARY KEY, v {pg_type});")
        db.psql(f"INSERT INTO people VALUES ('k1', {stored})")
        target = sql_connection("postgresql", db, tmp_path, "dst")
    else:
        my: MariaDb = request.getfixturevalue("my_database")
        my.sql(f"CREATE TABLE people (id VARCHAR(10) PRIMARY KEY, v {my_type})")
        my.sql(f"INSERT INTO people VALUES ('k1', {stored})")
        target = sql_connection("mysql", my, tmp_path, "dst")
    target = msgspec.structs.replace(target, id="dst")
    delimiter = "|" if isinstance(after, list) else None
    mapping = job(delimiter).objects[0]
    fields = [FieldMap(to="id"), FieldMap(to="v", delimiter=delimiter, policy=policy)]  # type: ignore[arg-type]
    the_job = msgspec.structs.replace(
        job(delimiter), objects=[msgspec.structs.replace(mapping, fields=fields)]
    )
    first = {}
    for shape in SHAPES:
        with shaped(shape):
            first[shape] = await plan_between(source, target, the_job, None, Reading())
    assert len({p.plan.hash for p in first.values()}) == 1, {k: shown(p) for k, p in first.items()}
    _, rows = await applied(source, target, the_job, first["memory"].plan.changes)
    assert rows == [{"id": "k1", "v": after}]
    again = {}
    for shape in SHAPES:
        with shaped(shape):
            again[shape] = await plan_between(source, target, the_job, None, Reading())
    again["keys"] = await plan_between(source, target, the_job, ["k1"], Reading())
    again["incremental"] = await plan_between(
        source, target, the_job, None, Reading(incremental=True, since="2026-01-01")
    )
    for shape, planned in again.items():
        assert shown(planned) == [], (shape, shown(planned))


@pytest.mark.parametrize("server", ["postgresql", "mariadb"])
async def test_a_unique_value_is_free_as_the_column_compares_it_in_every_shape(
    server: str, request: pytest.FixtureRequest, tmp_path: Path
) -> None:
    """A MariaDB column of the default collation takes "jose" for "josé" (and "ann" for
    "Ann "): a unique index there refuses the one beside the other, so a login made
    unique must not be either — on PostgreSQL, a variant more often."""
    people = [("k1", "jose", "2026-01-02"), ("k2", "ann", "2026-01-02"), ("k3", "bo", "2026-01-02")]
    table(tmp_path / "hr.db", "hr", ["id", "v", "modified"], people)
    source: Connection = SqliteConnection(id="src", path=str(tmp_path / "hr.db"))
    there = "('old1', 'Jos\u00e9'), ('old2', 'Ann ')"
    if server == "postgresql":
        db: Postgresql = request.getfixturevalue("pg_database")
        db.psql(
            "CREATE TABLE people (id text PRIMARY KEY, v text UNIQUE);"
            f"INSERT INTO people VALUES {there}"
        )
        target = sql_connection("postgresql", db, tmp_path, "dst")
    else:
        my: MariaDb = request.getfixturevalue("my_database")
        my.sql(
            "CREATE TABLE people (id VARCHAR(10) PRIMARY KEY,"
            " v VARCHAR(20) COLLATE utf8mb4_general_ci UNIQUE) CHARACTER SET utf8mb4;"
            f"INSERT INTO people VALUES {there}"
        )
        target = sql_connection("mysql", my, tmp_path, "dst")
    target = msgspec.structs.replace(target, id="dst")
    mapping = job(None).objects[0]
    fields = [FieldMap(to="id"), FieldMap(to="v", unique=True, create_only=True)]
    the_job = msgspec.structs.replace(
        job(None),
        objects=[msgspec.structs.replace(mapping, fields=fields, on_destination_only="skip")],
    )
    first = {}
    for shape in SHAPES:
        with shaped(shape):
            first[shape] = await plan_between(source, target, the_job, None, Reading())
    first["keys"] = await plan_between(source, target, the_job, ["k1", "k2", "k3"], Reading())
    first["incremental"] = await plan_between(
        source, target, the_job, None, Reading(incremental=True, since="2026-01-01")
    )
    made = {shape: shown(planned) for shape, planned in first.items()}
    assert made == dict.fromkeys(first, made["memory"])
    assert [c.set["v"] for c in first["memory"].plan.changes] == ["jose2", "ann2", "bo"]
    outcomes, _ = await applied(source, target, the_job, first["memory"].plan.changes)
    assert [o.error for o in outcomes] == [None] * 3, outcomes
    again = await plan_between(source, target, the_job, None, Reading())
    assert shown(again) == []
