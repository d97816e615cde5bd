"""A re-run into a PostgreSQL table of text reads whole only the rows that differ from
their source records (planning/unless_same.py): for any source and any table — equal
rows, changed ones, rows only on one side, keys held twice or spelled with spaces, in
another case or Unicode form, empty cells, items doubled around the delimiter, a US in a
value —, the plan (changes, counts, hash, warnings), the records that failed and the
records counted on each side are those of the plain way (`plain`: both sides read whole,
records compared one by one)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import asyncpg
import msgspec
import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from schemas.values import Record
from services.runner.planning import unless_same
from tests.postgresql_server import Server as Postgresql
from tests.sql_servers import Login, SqlProvider, sql_connection

from .test_fast_path_mixes import USERS, as_files, folder_of, job, outcome, plain, plan

TABLE = "CREATE TABLE people (id text, name text, dept text, groups text)"
# Mostly plain: most rows are equal to their records, and the odd ones stand among them.
KEYS = ["e1", "e2", "e3", "e4", "e5", "e6", "E1", " e2", "e3 ", "\u00e9", "e\u0301", "", None]
VALUES = ["Ada", "Eng", "Ops", "Ada", "Eng", "Ops", None, "", " Ada", "\u00e9", "e\u0301", "x\x1fy"]
GROUPS = ["a|b", "a", "b|a", "a|b", "a", None, "", "a||b", "|a", "c\x1fd|e", "\u00e9|x"]


async def fill(server: Postgresql, rows: list[tuple[str | None, ...]]) -> None:
    pg = await asyncpg.connect(server.dsn())
    try:
        await pg.execute("DROP TABLE IF EXISTS people")
        await pg.execute(TABLE)
        await pg.executemany("INSERT INTO people VALUES ($1, $2, $3, $4)", rows)
    finally:
        await pg.close()


async def both_ways(
    folder: Path,
    server: Login,
    mapping: Any = USERS,
    csv: bool = False,
    provider: SqlProvider = "postgresql",
) -> tuple[Any, Any]:
    """The plan as a run makes it, and the plain way's."""
    if csv:
        as_files(folder, source=True, destination=False)
    target = sql_connection(provider, server, folder, "dir")

    async def attempt() -> Any:
        try:
            planned = await plan(folder, job(mapping), None, None, target)
        except Exception as error:  # a refusal must be the same refusal
            return outcome(error)
        return (*outcome(planned), planned.destination_records, planned.types)

    quick = await attempt()
    with plain():
        slow = await attempt()
    return quick, slow


def source_row(row: tuple[str | None, ...], how: str) -> tuple[Any, ...]:
    key, name, dept, groups = row
    if how == "changed":
        dept = "Changed"
    return (key or "", name or "", dept or "", groups or "", 1)


HOWS = st.lists(st.sampled_from(["same", "same", "changed", "gone"]), min_size=8, max_size=8)
"""What becomes of each table row in the source: kept, changed or gone."""


def source_of(
    folder: Path,
    table_rows: list[tuple[str | None, ...]],
    hows: list[str],
    extra: list[tuple[str | None, ...]],
    absent: str,
) -> Any:
    """The source CSV in `folder`: the table's rows as `hows` says, and `extra` rows of its
    own; the users' mapping, acting on absence as `absent` says."""
    people = [
        source_row(row, how) for row, how in zip(table_rows, hows, strict=False) if how != "gone"
    ] + [source_row(row, "same") for row in extra]
    folder_of(folder, people=people, directory=[])
    return msgspec.structs.replace(USERS, on_destination_only=absent)


cell = st.sampled_from(VALUES)
rows_of = st.lists(
    st.tuples(st.sampled_from(KEYS), cell, cell, st.sampled_from(GROUPS)), max_size=8
)
SAME = ["same"] * 8
EQUAL = ("Ada", "Eng", "a|b")


@settings(max_examples=80, deadline=None, suppress_health_check=list(HealthCheck))
# A key held twice, once with spaces around it: skipped as ambiguous, the record equal to
# one of them all the same.
@example([("e2", *EQUAL), (" e2", *EQUAL)], ["same", "gone", *SAME[2:]], [], False, "delete")
# A key held twice in the same spelling, the record equal to both rows.
@example([("e1", *EQUAL), ("e1", *EQUAL)], ["same", "gone", *SAME[2:]], [], False, "delete")
# A key twice in the source, both records equal to its row: refused as the plain way is.
# And twice in both, in the same order: refused the same.
@example([("e1", *EQUAL), ("e1", *EQUAL)], SAME, [], True, "delete")
@example([("e1", *EQUAL)], SAME, [("e1", *EQUAL)], False, "delete")
# A key held by a record equal to its row and by one that fails (a US in a value).
@example([("e1", *EQUAL)], SAME, [("e1", "Ada", "x\x1fy", "a|b")], False, "delete")
# A key in another Unicode form beside its NFC spelling; a key in another case.
@example([("\u00e9", *EQUAL), ("e\u0301", *EQUAL)], SAME, [], True, "delete")
@example([("e1", *EQUAL), ("E1", *EQUAL)], ["gone", *SAME[1:]], [], False, "delete")
# A doubled delimiter, an empty cell, a US in a value, a row no record has.
@example(
    [("e1", "Ada", "Eng", "a||b"), ("e2", "Ada", "", "a"), ("e3", "x\x1fy", "Eng", "a")],
    SAME,
    [],
    False,
    "delete",
)
@example([("e1", *EQUAL), ("e2", *EQUAL)], ["same", "gone", *SAME[2:]], [], True, "delete")
@given(
    table_rows=rows_of,
    hows=HOWS,
    extra=rows_of,
    csv=st.booleans(),
    absent=st.sampled_from(["delete", "skip"]),
)
def test_any_table_plans_as_the_plain_way(
    tmp_path_factory: pytest.TempPathFactory,
    pg_database: Postgresql,
    table_rows: list[tuple[str | None, ...]],
    hows: list[str],
    extra: list[tuple[str | None, ...]],
    csv: bool,
    absent: str,
) -> None:
    import asyncio

    folder = tmp_path_factory.mktemp("unless-same")
    mapping = source_of(folder, table_rows, hows, extra, absent)

    async def run() -> tuple[Any, Any]:
        await fill(pg_database, table_rows)
        return await both_ways(folder, pg_database, mapping, csv)

    quick, slow = asyncio.run(run())
    assert quick == slow


ROWS: list[tuple[str | None, ...]] = [
    ("e1", "Ada", "Eng", "a|b"),
    ("e2", "Grace", "Sales", "a"),
    ("e3", "Alan", "Research", None),
    ("e4", "Gone", "Eng", "x"),
]


@pytest.mark.parametrize("csv", [False, True], ids=["sqlite", "csv"])
async def test_equal_rows_are_counted_unchanged_without_being_read_whole(
    tmp_path: Path, pg_database: Postgresql, monkeypatch: pytest.MonkeyPatch, csv: bool
) -> None:
    """Two rows equal to their records, one changed, one gone, one new: the row equal to a
    record holding every field is not read whole; the other one (a field empty: NULL in
    the table), the changed and the gone rows are; the plan is the plain way's."""
    await fill(pg_database, ROWS)
    people = [
        ("e1", "Ada", "Eng", "a|b", 1),
        ("e2", "Grace", "Research", "a", 1),
        ("e3", "Alan", "Research", "", 1),
        ("e5", "New", "Ops", "c|d", 1),
    ]
    folder_of(tmp_path, people=people, directory=[])
    asked: list[list[str] | None] = []
    compare = unless_same.compare

    def spied(*args: Any) -> Any:
        found = compare(*args)
        asked.append(None if found is None else found[1])
        return found

    monkeypatch.setattr(unless_same, "compare", spied)
    quick, slow = await both_ways(tmp_path, pg_database, csv=csv)
    assert asked == [["e1"]]
    assert quick == slow
    assert [f"{c.action} {c.key}" for c in quick[1]] == ["create e5", "update e2", "delete e4"]
    assert quick[2].unchanged == 2


NAMES = ["id", "name", "dept", "groups"]


@pytest.mark.parametrize(
    ("record", "stored"),
    [
        # A US in a value: the same text as a row whose cells split elsewhere.
        ({"id": "e1", "name": "x\x1fy", "dept": "Eng", "groups": ["a", "b"]}, ["x", "y\x1fEng"]),
        # An empty value, a row's empty cell (which a whole read leaves out).
        ({"id": "e1", "name": "", "dept": "Eng", "groups": ["a", "b"]}, ["", "Eng"]),
        # An empty item, an item holding the delimiter: the row's cell splits otherwise.
        ({"id": "e1", "name": "x", "dept": "Eng", "groups": ["a", "", "b"]}, ["x", "Eng"]),
        ({"id": "e1", "name": "x", "dept": "Eng", "groups": ["a|b"]}, ["x", "Eng"]),
        # A list in a single-valued field, text in a multi-valued one.
        ({"id": "e1", "name": ["x"], "dept": "Eng", "groups": ["a", "b"]}, ["x", "Eng"]),
        ({"id": "e1", "name": "x", "dept": "Eng", "groups": "a|b"}, ["x", "Eng"]),
    ],
)
def test_a_record_whose_text_is_its_row_s_but_not_its_fields_is_read_whole(
    record: dict[str, Any], stored: list[str]
) -> None:
    """Records a table of text cannot hold as they are (mapped records never hold an empty
    value nor a US; the comparison does not take that for granted): never equal to the
    row whose text they would give."""
    groups = record["groups"] if isinstance(record["groups"], str) else "|".join(record["groups"])
    text = "\x1f".join(["e1", *stored, groups])
    found = unless_same.compare(USERS, NAMES, [[record]], ["e1"], [text])
    assert found == ([record], [], ["e1"])
    plain_row: Record = {"id": "e1", "name": "x", "dept": "Eng", "groups": ["a", "b"]}
    its_text = "e1\x1fx\x1fEng\x1fa|b"
    found = unless_same.compare(USERS, NAMES, [[plain_row]], ["e1"], [its_text])
    assert found == ([], ["e1"], [])


@pytest.mark.parametrize("by_place", [True, False], ids=["by-place", "by-key"])
def test_the_rows_to_read_whole_are_those_that_differ_in_the_table_s_order(
    by_place: bool,
) -> None:
    """The rows a re-run reads whole — a changed one, one no record has, one twin of
    another row's key but for case — are asked for in the table's order, whether the
    rows stand in the records' order or not."""
    records: list[Record] = [
        {"id": key, "name": "x", "dept": "Eng", "groups": ["a", "b"]} for key in ("e1", "e2", "e3")
    ]

    def text(key: str, dept: str = "Eng") -> str:
        return f"{key}\x1fx\x1f{dept}\x1fa|b"

    if by_place:
        row_keys: list[str | None] = ["e1", "e2", "e3"]
        texts: list[str | None] = [text("e1"), text("e2", "Ops"), text("e3")]
        wanted = ["e2"]
    else:
        row_keys = ["e9", "e3", "E1", "e2", "e1"]
        texts = [text("e9"), text("e3"), text("E1"), text("e2", "Ops"), text("e1")]
        wanted = ["e9", "E1", "e2", "e1"]
    found = unless_same.compare(USERS, NAMES, [records], row_keys, texts)
    assert found is not None
    assert found[2] == wanted
    assert set(found[1]) == set(row_keys) - set(wanted)
