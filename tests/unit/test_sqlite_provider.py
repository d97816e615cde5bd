"""SQLite specifics: typed columns, constraints, locks, paths and quoting."""

from __future__ import annotations

import asyncio
import sqlite3
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path

import pytest

from core.errors import BadInput, Transient, WriteFailed
from schemas.connections import SqliteConnection
from schemas.jobs import Endpoint
from schemas.plan import Change
from schemas.values import Binary, Record, Value
from schemas.work import Creates
from services.common.settings import DEFAULT_SQLITE_BUSY_TIMEOUT, sqlite_busy_timeout
from services.providers import open_provider
from services.providers.base import AppliesColumns, Layout, Provider
from services.providers.sqlite import kept
from services.providers.sqlite import write as sqlite_write
from services.providers.sqlite.kept import close_kept
from services.providers.sqlite.rows import creates_as_rows

LAYOUT = Layout(keys=("id",), fields=("id", "name"))
Open = Callable[..., Awaitable[Provider]]


@pytest.fixture
def db_path(tmp_path: Path) -> Path:
    return tmp_path / "people.db"


@pytest.fixture
async def side(db_path: Path) -> AsyncIterator[Open]:
    opened: list[Provider] = []

    async def open_side(
        layout: Layout = LAYOUT, *, write: bool = True, table: str = "people", path: Path = db_path
    ) -> Provider:
        p = open_provider(
            SqliteConnection(path=str(path)), Endpoint(connection="db", table=table), layout
        )
        opened.append(p)
        await p.open(write=write)
        return p

    yield open_side
    for p in opened:
        await p.close()


def sql(path: Path, script: str) -> None:
    with sqlite3.connect(path) as db:
        db.executescript(script)
    db.close()


def tree(folder: Path) -> list[Path]:
    """Every file and folder below `folder`, sorted."""
    return sorted(folder.rglob("*"))


def rows(path: Path, query: str = "SELECT * FROM people ORDER BY 1") -> list[tuple[object, ...]]:
    with sqlite3.connect(path) as db:
        found = db.execute(query).fetchall()
    db.close()
    return found


async def read(p: Provider) -> list[Record]:
    return [r async for batch in p.read(100) for r in batch]


def create(key: str, **fields: str | list[str] | Binary) -> Change:
    return Change(action="create", key=key, match={"id": key}, set={"id": key, **fields})


TYPED = """CREATE TABLE people (id INTEGER PRIMARY KEY, name TEXT, age INTEGER,
    score REAL, weight NUMERIC, code VARCHAR(10), note, photo BLOB);"""


@pytest.mark.parametrize(
    ("column", "text", "expected"),
    [
        ("age", "042", "42"),
        ("age", "4.0", "4"),
        ("age", "1e3", "1000"),
        ("age", "12abc", "12abc"),
        ("age", " 7 ", None),
        ("age", "99999999999999999999", None),
        ("score", "1.50", "1.5"),
        ("score", "3", "3.0"),
        ("score", "-0.1e-2", "-0.001"),
        ("weight", "3.0", "3"),
        ("weight", "2.50", "2.5"),
        ("code", "007", "007"),
        ("note", "007", "007"),
    ],
)
async def test_typed_columns_never_show_phantom_differences(
    db_path: Path, side: Open, column: str, text: str, expected: str | None
) -> None:
    sql(db_path, TYPED)
    destination = await side()
    source: Record = {"id": "1", column: text}

    await destination.apply([create("1", **{column: text})])
    [stored] = await read(destination)

    assert destination.canonical(source) == stored
    assert destination.canonical(stored) == stored
    if expected is not None:
        assert stored[column] == expected


async def test_an_integer_key_matches_however_it_is_spelled(db_path: Path, side: Open) -> None:
    sql(db_path, TYPED)
    destination = await side()

    first = await destination.apply([create("007", name="Ann")])
    second = await destination.apply([create("007", name="Ann Lee"), create("7", age="30")])

    assert [o.error for o in first + second] == [None, None, None]
    assert await read(destination) == [{"id": "7", "name": "Ann Lee", "age": "30"}]


async def test_binary_values_round_trip(db_path: Path, side: Open) -> None:
    sql(db_path, TYPED)
    destination = await side()
    photo = Binary(b"\x89PNG\r\n\x00\xff")

    await destination.apply([create("1", photo=photo, note=Binary(b"\x00"))])

    assert await read(destination) == [{"id": "1", "photo": photo, "note": Binary(b"\x00")}]


async def test_a_rejected_change_is_its_outcome_and_the_rest_applies(
    db_path: Path, side: Open
) -> None:
    sql(
        db_path,
        "CREATE TABLE people (id TEXT PRIMARY KEY, name TEXT NOT NULL,"
        " age INTEGER CHECK (age >= 0));",
    )
    destination = await side()

    outcomes = await destination.apply(
        [
            create("u1", name="Ann"),
            create("u2"),
            create("u3", name="Cy", age="-1"),
            create("u4", name="Di"),
        ]
    )

    errors = [o.error for o in outcomes]
    assert errors[0] is None and errors[3] is None
    assert errors[1] is not None and "NOT NULL constraint failed: people.name" in errors[1]
    assert errors[2] is not None and "CHECK constraint failed" in errors[2]
    assert rows(db_path) == [("u1", "Ann", None), ("u4", "Di", None)]


async def test_an_update_may_rename_a_key_and_later_changes_see_it(
    db_path: Path, side: Open
) -> None:
    destination = await side()
    rename = Change(action="update", key="u2", match={"id": "u2"}, set={"id": "u9"})
    after = Change(action="update", key="u9", match={"id": "u9"}, set={"name": "Bo Lee"})

    outcomes = await destination.apply(
        [create("u1", name="A"), create("u2", name="Bo"), rename, after]
    )

    assert [o.error for o in outcomes] == [None] * 4
    assert await read(destination) == [{"id": "u1", "name": "A"}, {"id": "u9", "name": "Bo Lee"}]


@pytest.mark.parametrize("journal", ["delete", "wal"])
async def test_locked_database_is_transient_and_writes_nothing_of_the_batch(
    db_path: Path, side: Open, monkeypatch: pytest.MonkeyPatch, journal: str
) -> None:
    monkeypatch.setenv("IDSYNC_SQLITE_BUSY_TIMEOUT", "0.05")
    sql(
        db_path,
        f"PRAGMA journal_mode={journal}; CREATE TABLE people (id TEXT, name TEXT);"
        " INSERT INTO people VALUES ('u1', 'Ann');",
    )
    destination = await side()
    batch = [create("u2", name="Bo"), create("u1", name="Ann Lee")]
    other = sqlite3.connect(db_path, isolation_level=None)
    other.execute("BEGIN EXCLUSIVE")
    try:
        started = time.monotonic()
        with pytest.raises(Transient, match="locked"):
            await destination.apply(batch)
        assert time.monotonic() - started < DEFAULT_SQLITE_BUSY_TIMEOUT / 2
    finally:
        other.execute("ROLLBACK")
        other.close()
    assert rows(db_path) == [("u1", "Ann")]

    assert [o.error for o in await destination.apply(batch)] == [None, None]  # the retry
    assert rows(db_path) == [("u1", "Ann Lee"), ("u2", "Bo")]


@pytest.mark.parametrize("where", ["a folder", "a missing folder"])
async def test_unwritable_path_fails_on_open_and_creates_nothing(
    tmp_path: Path, side: Open, where: str
) -> None:
    path = tmp_path / "data.db" if where == "a folder" else tmp_path / "missing" / "data.db"
    if where == "a folder":
        await asyncio.to_thread(path.mkdir)
    before = await asyncio.to_thread(tree, tmp_path)

    with pytest.raises(WriteFailed, match=r"is a folder|does not exist"):
        await side(path=path)

    assert await asyncio.to_thread(tree, tmp_path) == before


async def test_opening_an_existing_database_for_writing_changes_nothing(
    db_path: Path, side: Open
) -> None:
    sql(
        db_path,
        "CREATE TABLE people (id TEXT, name TEXT); INSERT INTO people VALUES ('u1', 'Ann');",
    )
    before = await asyncio.to_thread(db_path.read_bytes)

    destination = await side()
    assert await read(destination) == [{"id": "u1", "name": "Ann"}]
    await destination.close()

    assert await asyncio.to_thread(db_path.read_bytes) == before
    assert sorted(p.name for p in db_path.parent.iterdir()) == ["people.db"]


async def test_missing_database_or_table_as_source_is_bad_input(db_path: Path, side: Open) -> None:
    with pytest.raises(BadInput, match="not found"):
        await side(write=False)
    sql(db_path, "CREATE TABLE other (id TEXT);")
    with pytest.raises(BadInput, match="no table 'people'"):
        await side(write=False)


async def test_a_file_that_is_not_a_database_is_bad_input(db_path: Path, side: Open) -> None:
    await asyncio.to_thread(db_path.write_text, "id,name\n1,Ann\n")

    with pytest.raises(BadInput, match="not a SQLite database"):
        await side(write=False)


async def test_new_table_has_text_columns_a_unique_key_and_wal(db_path: Path, side: Open) -> None:
    destination = await side(Layout(keys=("id",), fields=("id", "name")))

    await destination.apply([create("1", name="Ann", title="CTO")])

    assert rows(db_path, "SELECT name, type FROM pragma_table_info('people')") == [
        ("id", "TEXT"),
        ("name", "TEXT"),
        ("title", "TEXT"),
    ]
    [(unique,)] = rows(db_path, "SELECT \"unique\" FROM pragma_index_list('people')")
    assert unique == 1
    assert rows(db_path, "PRAGMA journal_mode") == [("wal",)]


async def test_fields_missing_from_an_existing_table_are_added(db_path: Path, side: Open) -> None:
    sql(db_path, "CREATE TABLE people (id TEXT, age INTEGER); INSERT INTO people VALUES ('1', 30);")
    destination = await side()

    await destination.apply([create("1", name="Ann")])

    assert await read(destination) == [{"id": "1", "age": "30", "name": "Ann"}]


async def test_names_from_the_job_are_quoted_never_executed(db_path: Path, side: Open) -> None:
    sql(db_path, "CREATE TABLE victim (x TEXT);")
    table, field = 'we"ird; DROP TABLE victim; --', 'say "hi", [x]'
    layout = Layout(keys=("id",), multi_valued={field: ","})
    destination = await side(layout, table=table)

    await destination.apply([create("1", **{field: ["a", "b"]})])

    assert await read(await side(layout, table=table, write=False)) == [
        {"id": "1", field: ["a", "b"]}
    ]
    assert rows(db_path, "SELECT count(*) FROM victim") == [(0,)]


def test_busy_timeout_comes_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("IDSYNC_SQLITE_BUSY_TIMEOUT", "0.25")
    assert sqlite_busy_timeout() == 0.25
    monkeypatch.setenv("IDSYNC_SQLITE_BUSY_TIMEOUT", "soon")
    with pytest.raises(BadInput, match="IDSYNC_SQLITE_BUSY_TIMEOUT"):
        sqlite_busy_timeout()


async def test_bulk_creates_go_in_as_rows_not_one_savepoint_each(db_path: Path, side: Open) -> None:
    """Guards the fast path (its speed is bench/csv_to_sqlite.py's): plain creates are one
    `executemany`, never the change-by-change way, one savepoint per change."""
    n = 2_000
    destination = await side()
    changes = [create(f"u{i:05d}", name=f"Name {i}") for i in range(n)]
    await destination.apply(changes[:1])  # connected, the table made
    seen: list[str] = []
    await destination._db.set_trace_callback(seen.append)  # type: ignore[attr-defined]

    outcomes = await destination.apply(changes[1:])

    assert all(o.error is None for o in outcomes)
    assert rows(db_path)[-1] == (f"u{n - 1:05d}", f"Name {n - 1}")
    assert "SAVEPOINT idsync_one" not in seen, "no change went in alone"
    assert "ROLLBACK" not in seen, "nor was the batch begun again"


async def test_plain_creates_of_one_shape_refused_in_part_still_fail_alone(
    db_path: Path, side: Open
) -> None:
    """A batch of creates all alike goes in as rows; a row SQLite refuses sends the batch
    the change-by-change way, where that change alone fails."""
    sql(db_path, "CREATE TABLE people (id TEXT PRIMARY KEY, name TEXT CHECK (name <> 'bad'));")
    destination = await side()

    outcomes = await destination.apply(
        [create("u1", name="Ann"), create("u2", name="bad"), create("u3", name="Cy")]
    )

    errors = [o.error for o in outcomes]
    assert errors[0] is None and errors[2] is None
    assert errors[1] is not None and "CHECK constraint failed" in errors[1]
    assert rows(db_path) == [("u1", "Ann"), ("u3", "Cy")]


async def test_plain_creates_applied_again_write_nothing_twice(db_path: Path, side: Open) -> None:
    layout = Layout(keys=("id",), fields=("id", "name", "groups"), multi_valued={"groups": "|"})
    batch = [create(f"u{i}", name=f"N{i}", groups=["a", "b"]) for i in range(50)]
    destination = await side(layout)

    first = await destination.apply(batch)
    again = await destination.apply(batch)  # a batch delivered again

    assert [o.error for o in first + again] == [None] * 100
    assert rows(db_path, "SELECT count(*), count(DISTINCT id) FROM people") == [(50, 50)]
    assert rows(db_path, "SELECT name, groups FROM people WHERE id = 'u7'") == [("N7", "a|b")]


async def test_creates_whose_key_is_in_their_match_only_are_written_with_it(
    db_path: Path, side: Open
) -> None:
    """Rows whose key fields the statement adds before the fields set, laid into more
    statements than one (600 rows: 512, then the rest in smaller runs)."""
    layout = Layout(keys=("id",), fields=("id", "name", "groups"), multi_valued={"groups": "|"})
    batch = [
        Change(
            action="create",
            key=f"u{n:03d}",
            match={"id": f"u{n:03d}"},
            set={"name": f"N{n}", "groups": ["a", str(n)]},
        )
        for n in range(600)
    ]
    destination = await side(layout)

    first = await destination.apply(batch)
    again = await destination.apply(batch)  # delivered again: nothing written twice

    assert [o.error for o in first + again] == [None] * 1200
    found = rows(db_path, "SELECT id, name, groups FROM people ORDER BY id")
    assert found == [(f"u{n:03d}", f"N{n}", f"a|{n}") for n in range(600)]


async def test_a_key_twice_in_a_batch_of_creates_applies_in_order(
    db_path: Path, side: Open
) -> None:
    destination = await side()

    outcomes = await destination.apply(
        [create("u1", name="A"), create("u2", name="B"), create("u1", name="A2")]
    )

    assert [o.error for o in outcomes] == [None] * 3
    assert rows(db_path) == [("u1", "A2"), ("u2", "B")]


def test_only_creates_of_one_shape_on_distinct_keys_are_rows() -> None:
    keys = ("id",)
    plain = [create("u1", name="A"), create("u2", name="B", groups=["x", "y"])]
    assert creates_as_rows(plain, keys, {}) is None  # two shapes
    alike = [create("u1", name="A", groups=["x"]), create("u2", name="", groups=["x", "y"])]
    made = creates_as_rows(alike, keys, {"groups": ";"})
    assert made is not None
    assert made.where == keys and made.names == ("id", "name", "groups")
    assert made.keys == [["u1", "u2"]]
    assert made.values == [["u1", "u2"], ["A", None], ["x", "x;y"]]
    assert made.count == 2
    # laid out row after row, as a statement of rows binds them
    assert made.params(made.values, 0, 2) == ["u1", "A", "x", "u2", None, "x;y"]
    assert made.params([*made.keys, *made.values], 1, 1) == ["u2", "u2", None, "x;y"]
    # the same fields set in another order: the columns of the first's order all the same
    turned = Change(
        action="create",
        key="u3",
        match={"id": "u3"},
        set={"groups": ["z"], "name": "C", "id": "u3"},
    )
    mixed = creates_as_rows([*alike, turned], keys, {"groups": ";"})
    assert mixed is not None and mixed.names == ("id", "name", "groups")
    assert mixed.values == [["u1", "u2", "u3"], ["A", None, "C"], ["x", "x;y", "z"]]
    update = Change(action="update", key="u1", match={"id": "u1"}, set={"id": "u1", "name": "A"})
    assert creates_as_rows([alike[0], update], keys, {}) is None
    # as many fields, not the same ones: not one shape
    assert creates_as_rows([alike[0], create("u4", name="D", title="T")], keys, {}) is None
    assert creates_as_rows([alike[0], alike[0]], keys, {}) is None  # a key twice
    assert creates_as_rows([create("", name="A")], keys, {}) is None  # an empty key
    assert creates_as_rows([create("u1", name="A")], (), {}) is None  # no key fields


async def test_a_writer_lends_its_connection_to_the_next_batch_of_the_same_file(
    db_path: Path, side: Open
) -> None:
    first = await side()
    await first.apply([create("u1", name="A")])
    await first.close()  # kept: it wrote a batch
    second = await side()
    assert [o.error for o in await second.apply([create("u2", name="B")])] == [None]
    await second.close()
    assert rows(db_path) == [("u1", "A"), ("u2", "B")]

    # The file removed (and made again by another program): a connection of its own.
    for path in db_path.parent.glob("people.db*"):
        path.unlink()
    sql(db_path, "CREATE TABLE people (id TEXT, name TEXT);")
    third = await side()
    assert [o.error for o in await third.apply([create("u3", name="C")])] == [None]
    await third.close()
    assert rows(db_path) == [("u3", "C")]
    await close_kept()


async def test_kept_connections_are_closed_when_idle_and_hold_no_transaction(
    db_path: Path, side: Open, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(kept, "IDLE", 0.05)
    destination = await side()
    await destination.apply([create("u1", name="A")])
    await destination.close()
    other = sqlite3.connect(db_path, isolation_level=None, timeout=0)
    other.execute("BEGIN EXCLUSIVE")  # nothing kept holds a lock
    other.execute("ROLLBACK")
    other.close()
    await asyncio.sleep(0.3)
    # Closed: the last connection checkpointed the log and removed it.
    assert sorted(p.name for p in db_path.parent.iterdir()) == ["people.db"]
    assert rows(db_path) == [("u1", "A")]


async def test_plain_creates_go_in_many_rows_a_statement_as_many_as_it_binds(
    db_path: Path, side: Open, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(sqlite_write, "_BOUND", 9)  # four rows of two fields a statement
    layout = Layout(keys=("id",), fields=("id", "name"))
    batch = [create(f"u{i:02}", name=f"N{i}") for i in range(11)]  # 4 + 4 + 2 + 1
    destination = await side(layout)

    assert [o.error for o in await destination.apply(batch)] == [None] * 11
    assert [o.error for o in await destination.apply(batch)] == [None] * 11  # again
    assert rows(db_path) == [(f"u{i:02}", f"N{i}") for i in range(11)]


@pytest.mark.parametrize(
    ("table", "change", "named"),
    [
        (
            "CREATE TABLE people (id INTEGER PRIMARY KEY, name TEXT)",
            create("abc", name="Ann"),
            "create 'abc' rejected by sqlite: datatype mismatch: id 'abc' is not an integer",
        ),
        (
            "CREATE TABLE people (id TEXT UNIQUE, age INTEGER, score REAL) STRICT",
            create("u1", age="12", score="high"),
            "create 'u1' rejected by sqlite: cannot store TEXT value in REAL column "
            "people.score: score 'high' is not a number",
        ),
        (
            "CREATE TABLE people (id TEXT UNIQUE, age INTEGER) STRICT",
            create("u1", age="1.5"),
            "create 'u1' rejected by sqlite: cannot store REAL value in INTEGER column "
            "people.age: age '1.5' is not an integer",
        ),
    ],
)
async def test_a_value_refused_for_its_type_is_named_with_its_field(
    db_path: Path, side: Open, table: str, change: Change, named: str
) -> None:
    sql(db_path, table)
    destination = await side(Layout(keys=("id",), fields=("id", "name", "age", "score")))

    good, bad = await destination.apply([create("7"), change])

    assert good.error is None
    assert bad.error == named


COLUMN_CASES: dict[str, tuple[str, list[list[Value]]]] = {
    "plain": ("", [["u1", "u2", "u3"], ["Ann", "Bo", ""], [["a", "b"], ["c"], ["d"]]]),
    "a row refused": (
        "CREATE TABLE people (id TEXT UNIQUE, name TEXT CHECK (name <> 'bad'), groups TEXT);",
        [["u1", "u2", "u3"], ["Ann", "bad", "Cy"], [["a"], ["b"], ["c"]]],
    ),
    "a key twice": ("", [["u1", "u2", "u1"], ["Ann", "Bo", "Cy"], [["a"], ["b"], ["c"]]]),
    "a key empty": ("", [["u1", ""], ["Ann", "Bo"], [["a"], ["b"]]]),
    "binary values": ("", [["u1", "u2"], [Binary(b"\x00"), "Bo"], [["a"], ["b"]]]),
    "an integer key refusing text": (
        "CREATE TABLE people (id INTEGER PRIMARY KEY, name TEXT, groups TEXT);",
        [["1", "x", "3"], ["Ann", "Bo", "Cy"], [["a"], ["b"], ["c"]]],
    ),
    "a strict table": (
        "CREATE TABLE people (id TEXT UNIQUE, name INTEGER, groups TEXT) STRICT;",
        [["u1", "u2"], ["12", "Bo"], [["a"], ["b"]]],
    ),
    "no unique key": (
        "CREATE TABLE people (id TEXT, name TEXT, groups TEXT);",
        [["u1", "u2"], ["Ann", "Bo"], [["a"], ["b"]]],
    ),
}


@pytest.mark.parametrize("case", list(COLUMN_CASES))
async def test_creates_sent_as_columns_are_applied_as_their_changes(
    tmp_path: Path, side: Open, case: str
) -> None:
    """Plain creates sent as columns (a first run's batch) leave the table, and give the
    outcomes, that the same changes applied one list of changes give — where they go in
    as rows, and where they cannot (a row refused, a key twice or empty, no unique key)."""
    table, columns = COLUMN_CASES[case]
    creates = Creates(key_field="id", fields=("id", "name", "groups"), columns=columns)
    layout = Layout(keys=("id",), fields=("id", "name", "groups"), multi_valued={"groups": ","})
    applied: list[list[str | None]] = []
    for way in ("changes", "columns"):
        path = tmp_path / f"{way}.db"
        if table:
            sql(path, table)
        destination = await side(layout, path=path)
        assert isinstance(destination, AppliesColumns)
        if way == "columns":
            outcomes = await destination.apply_columns(creates)
        else:
            outcomes = await destination.apply(list(creates.changes))
        applied.append([o.error for o in outcomes])
    assert applied[0] == applied[1]
    query = "SELECT * FROM people ORDER BY rowid"
    assert rows(tmp_path / "columns.db", query) == rows(tmp_path / "changes.db", query)


@pytest.mark.parametrize("case", list(COLUMN_CASES))
async def test_creates_sent_as_columns_delivered_again_are_applied_as_their_changes(
    tmp_path: Path, side: Open, case: str
) -> None:
    """A batch sent as columns delivered again (its runner died after writing it, before
    recording it) writes nothing twice and gives, the second time, the outcomes the same
    changes give delivered again as a list."""
    table, columns = COLUMN_CASES[case]
    creates = Creates(key_field="id", fields=("id", "name", "groups"), columns=columns)
    layout = Layout(keys=("id",), fields=("id", "name", "groups"), multi_valued={"groups": ","})
    applied: list[list[list[str | None]]] = []
    for way in ("changes", "columns"):
        path = tmp_path / f"{way}.db"
        if table:
            sql(path, table)
        outcomes = []
        for _ in range(2):  # delivered, then delivered again to another runner
            destination = await side(layout, path=path)
            assert isinstance(destination, AppliesColumns)
            if way == "columns":
                outcomes.append([o.error for o in await destination.apply_columns(creates)])
            else:
                outcomes.append([o.error for o in await destination.apply(creates.changes)])
        applied.append(outcomes)
    assert applied[0] == applied[1]
    query = "SELECT * FROM people ORDER BY rowid"
    assert rows(tmp_path / "columns.db", query) == rows(tmp_path / "changes.db", query)
    assert len(rows(tmp_path / "columns.db", query)) <= len(creates)


async def test_plain_creates_sent_as_columns_go_in_as_rows(db_path: Path, side: Open) -> None:
    """The test above compares something: columns go in as rows, no change made of them,
    and the changes made of them are what the plan holds."""
    creates = Creates(key_field="id", fields=("id", "name"), columns=[["u1", "u2"], ["A", "B"]])
    destination = await side()
    assert isinstance(destination, AppliesColumns)
    seen: list[str] = []
    await destination.apply_columns(Creates(key_field="id", fields=("id",), columns=[["u0"]]))
    await destination._db.set_trace_callback(seen.append)  # type: ignore[attr-defined]

    outcomes = await destination.apply_columns(creates)

    assert [o.error for o in outcomes] == [None, None]
    assert "changes" not in creates.__dict__, "no change made"
    assert "SAVEPOINT idsync_one" not in seen
    assert rows(db_path) == [("u0", None), ("u1", "A"), ("u2", "B")]
    assert creates.changes == [create("u1", name="A"), create("u2", name="B")]
