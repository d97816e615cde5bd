"""A re-run into a MySQL (MariaDB) table of text reads whole only the rows that differ from
their source records (planning/unless_same.py), as into PostgreSQL's
(test_unless_same.py): for any table — equal rows, changed ones, rows only on one side,
keys held twice, with spaces, in another case or Unicode form, empty cells, trailing
spaces, a key column compared without case or a column of another character set —, the
plan is the plain way's (both sides read whole, records compared one by one). A table
with a typed column is read whole, as before."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import asyncmy
import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from services.providers.mysql import read as mysql_read
from services.runner.planning import unless_same
from tests.mysql_server import Server

from .test_fast_path_mixes import folder_of
from .test_unless_same import EQUAL, HOWS, SAME, both_ways, source_of

BIN = "utf8mb4 COLLATE utf8mb4_bin"
TABLES = {
    "bin": f"CREATE TABLE people (id varchar(64) CHARACTER SET {BIN}, name text, dept "
    "varchar(32), `groups` text) DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin",
    # Keys compared without case nor trailing spaces by the server, names in latin1.
    "ci": "CREATE TABLE people (id varchar(64) CHARACTER SET utf8mb4 COLLATE "
    "utf8mb4_general_ci, name text CHARACTER SET latin1, dept text, `groups` text) "
    "DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci",
}
KEYS = ["e1", "e2", "e3", "e4", "e5", "e6", "E1", " e2", "e3 ", "\u00e9", "e\u0301", "", None]
VALUES = [
    "Ada",
    "Eng",
    "Ops",
    "Ada",
    "Eng",
    "\u00e9t\u00e9",
    None,
    "",
    " Ada",
    "Ada ",
    "ADA",
    "x\x1fy",
]
GROUPS = ["a|b", "a", "b|a", "a|b", "a", None, "", "a||b", "|a", "a|b ", "c\x1fd|e", "\u00e9|x"]


async def fill(server: Server, table: str, rows: list[tuple[str | None, ...]]) -> None:
    conn = await asyncmy.connect(
        host=server.host,
        port=server.port,
        user=server.user,
        password=server.password,
        database=server.database,
        charset="utf8mb4",
        autocommit=True,
    )
    try:
        async with conn.cursor() as cursor:
            await cursor.execute("DROP TABLE IF EXISTS people")
            await cursor.execute(table)
            if rows:
                await cursor.executemany("INSERT INTO people VALUES (%s, %s, %s, %s)", rows)
    finally:
        conn.close()


cell = st.sampled_from(VALUES)
rows_of = st.lists(
    st.tuples(st.sampled_from(KEYS), cell, cell, st.sampled_from(GROUPS)), max_size=8
)


@settings(max_examples=60, deadline=None, suppress_health_check=list(HealthCheck))
# A key in another case, held by a column that compares without case.
@example("ci", [("e1", *EQUAL), ("E1", *EQUAL)], ["gone", *SAME[1:]], [], False, "delete")
# Trailing spaces: in a key (the server's PAD SPACE comparison takes "e3 " for "e3"), in
# a value.
@example("ci", [("e3", *EQUAL), ("e3 ", *EQUAL)], SAME, [], False, "delete")
@example("bin", [("e1", "Ada ", "Eng", "a|b"), ("e2", *EQUAL)], SAME, [], False, "delete")
# A value in another case than the source's, under a collation without case.
@example("ci", [("e1", "ADA", "Eng", "a|b"), ("e2", *EQUAL)], SAME, [], False, "delete")
# A key held by a record equal to its row and by one that fails (a US in a value): the
# source holds it twice, refused — left out as equal, the first was not seen.
@example("bin", [("e1", *EQUAL)], SAME, [("e1", "Ada", "x\x1fy", "a|b")], False, "delete")
# An empty cell against a NULL one, a US in a value.
@example("bin", [("e1", "Ada", "", "a"), ("e2", "x\x1fy", "Eng", None)], SAME, [], True, "skip")
@example(
    "bin", [("e1", "Ada", "Ada", "a|b")], SAME, [("e1", "Ada", "x\x1fy", "a|b")], False, "delete"
)
@given(
    table=st.sampled_from(list(TABLES)),
    table_rows=rows_of,
    hows=HOWS,
    extra=rows_of,
    csv=st.booleans(),
    absent=st.sampled_from(["delete", "skip"]),
)
def test_any_table_plans_as_the_plain_way(
    tmp_path_factory: pytest.TempPathFactory,
    my_database: Server,
    table: str,
    table_rows: list[tuple[str | None, ...]],
    hows: list[str],
    extra: list[tuple[str | None, ...]],
    csv: bool,
    absent: str,
) -> None:
    folder = tmp_path_factory.mktemp("unless-same-mysql")
    mapping = source_of(folder, table_rows, hows, extra, absent)

    async def run() -> tuple[Any, Any]:
        await fill(my_database, TABLES[table], table_rows)
        return await both_ways(folder, my_database, mapping, csv, provider="mysql")

    quick, slow = asyncio.run(run())
    assert quick == slow


ROWS: list[tuple[str | None, ...]] = [
    ("e1", "Ada", "Eng", "a|b"),
    ("e2", "Grace", "Sales", "a"),
    ("e3", "Alan", "Research", None),
    ("e4", "Gone", "Eng", "x"),
    ("e6", "Ada ", "Eng", "a"),
]


@pytest.mark.parametrize("looked_up", [10_000, 1], ids=["by-key", "read-whole"])
@pytest.mark.parametrize("table", list(TABLES))
async def test_equal_rows_are_counted_unchanged_without_being_read_whole(
    tmp_path: Path,
    my_database: Server,
    monkeypatch: pytest.MonkeyPatch,
    table: str,
    looked_up: int,
) -> None:
    """The row equal to a record is not read whole; the others are — a field empty (NULL
    in the table), a changed one, one gone, one whose value has a trailing space the
    source's has not (equal to it by the collation, not by its text) —, by their keys or,
    more of them than a lookup takes, by a whole read keeping them alone; and the plan is
    the plain way's."""
    monkeypatch.setattr(mysql_read, "LOOKED_UP", looked_up)
    await fill(my_database, TABLES[table], ROWS)
    people = [
        ("e1", "Ada", "Eng", "a|b", 1),
        ("e2", "Grace", "Research", "a", 1),
        ("e3", "Alan", "Research", "", 1),
        ("e5", "New", "Ops", "c|d", 1),
        ("e6", "Ada", "Eng", "a", 1),
    ]
    folder_of(tmp_path, people=people, directory=[])
    asked: list[list[str] | None] = []
    compare = unless_same.compare

    def spied(*args: Any) -> Any:
        found = compare(*args)
        asked.append(None if found is None else found[1])
        return found

    monkeypatch.setattr(unless_same, "compare", spied)
    quick, slow = await both_ways(tmp_path, my_database, provider="mysql")
    assert asked == [["e1"]]
    assert quick == slow
    changes = [f"{c.action} {c.key}" for c in quick[1]]
    assert changes == ["create e5", "update e2", "update e6", "delete e4"]
    assert quick[2].unchanged == 2


@pytest.mark.parametrize(
    "column",
    [
        "int",
        "decimal(10,2)",
        "tinyint(1)",
        "date",
        "datetime",
        "timestamp NULL",
        "char(8)",
        "blob",
        "json",
    ],
)
async def test_a_table_with_a_typed_column_is_read_whole(
    tmp_path: Path, my_database: Server, monkeypatch: pytest.MonkeyPatch, column: str
) -> None:
    """A typed (or fixed-width, binary, JSON) column reads back in its own canonical text:
    no row is compared by its text, and the plan is the plain way's."""
    table = f"CREATE TABLE people (id varchar(64), name text, dept {column}, `groups` text)"
    value = {
        "int": "7",
        "decimal(10,2)": "7.50",
        "tinyint(1)": "1",
        "date": "2026-01-02",
        "datetime": "2026-01-02 03:04:05",
        "timestamp NULL": "2026-01-02 03:04:05",
        "char(8)": "Eng",
        "blob": "Eng",
        "json": '{"a": 1}',
    }[column]
    await fill(my_database, table, [("e1", "Ada", value, "a|b"), ("e2", "Bo", value, "a")])
    folder_of(tmp_path, people=[("e1", "Ada", value, "a|b", 1), ("e2", "Bo", "x", "a", 1)])
    compared: list[object] = []
    monkeypatch.setattr(unless_same, "compare", lambda *a: compared.append(a))
    quick, slow = await both_ways(tmp_path, my_database, provider="mysql")
    assert compared == []
    assert quick == slow
