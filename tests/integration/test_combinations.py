"""Features that work alone, tried together: char(n) columns holding keys and lists,
written and planned again (on a MariaDB server padding them to their width too);
incremental and key-scoped runs looking keys up in tables keyed by two fields, by char(n)
columns, by columns of every SQLite type (STRICT's ANY among them), of collations
ignoring case and accents, of a character set that cannot hold every key asked for; a
blank key asked for; a key twice in the source refused in little memory as in memory."""

from __future__ import annotations

import asyncio
import sqlite3
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import msgspec
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from core.engine.keys import DuplicateKey
from schemas.connections import SqliteConnection
from schemas.jobs import Endpoint, FieldMap, Job, ObjectMapping
from schemas.plan import Change
from schemas.values import Record
from services.providers.base import Layout
from services.runner.planning import scoped
from tests.mysql_server import Server as MariaDb
from tests.postgresql_server import Server as Postgresql
from tests.sql_servers import opened, read_all, sql_connection

from . import test_fast_path_mixes as mixes
from .test_bounded_text import written_then_unchanged
from .test_changed_lookups_providers import (
    CHANGED,
    E2_CHANGED,
    KEYED,
    SQL_CASES,
    UNCHANGED,
    Case,
    Outcome,
    Sql,
    both_ways,
    job,
    lean,
    my_module,
    outcome,
    pg_module,
    plans_as_read_whole,
    source,
    sql,
)
from .test_scoped_reads import applied, plan_between

__all__ = ["lean", "my_module", "pg_module", "sql"]  # fixtures


async def test_a_postgresql_char_n_array_compares_as_it_reads_back(
    pg_database: Postgresql, tmp_path: Path
) -> None:
    pg_database.psql(
        "CREATE TABLE coded (id integer PRIMARY KEY, codes char(4)[]);"
        "INSERT INTO coded VALUES (7, '{ab,cd}');"
    )
    layout = Layout(keys=("id",), fields=("id", "codes"), multi_valued={"codes": ";"})
    connection = sql_connection("postgresql", pg_database, tmp_path, "pg")
    table = await opened(connection, Endpoint(connection="pg", table="coded"), layout, write=True)
    try:
        [stored] = await read_all(table)
        record: Record = {"id": "7", "codes": ["ab", "cd"]}
        assert table.canonical(record) == stored
        new = table.canonical({"id": "8", "codes": ["ef ", "g"]})
        create = Change(action="create", key="8", match={"id": "8"}, set=new)
        assert [outcome.error for outcome in await table.apply([create])] == [None]
        assert [r for r in await read_all(table) if r["id"] == "8"] == [new]
    finally:
        await table.close()


async def test_a_multi_valued_field_in_a_mariadb_char_n_column_reads_back_as_written(
    my_database: MariaDb, tmp_path: Path
) -> None:
    my_database.sql("CREATE TABLE coded (id INT PRIMARY KEY, codes CHAR(12))")
    layout = Layout(keys=("id",), fields=("id", "codes"), multi_valued={"codes": ";"})
    connection = sql_connection("mysql", my_database, tmp_path, "my")
    table = await opened(connection, Endpoint(connection="my", table="coded"), layout, write=True)
    try:
        new = table.canonical({"id": "8", "codes": ["ef ", " g "]})
        create = Change(action="create", key="8", match={"id": "8"}, set=new)
        assert [outcome.error for outcome in await table.apply([create])] == [None]
        assert await read_all(table) == [new]
    finally:
        await table.close()


# Incremental runs into SQL tables planned with lookups and read whole, in shapes the
# cases of test_changed_lookups_providers.py do not try.

COMPOSITE = ObjectMapping(
    keys=["id", "name"], fields=[FieldMap(to="id", from_="emp"), FieldMap(to="name")]
)

CASES: dict[str, Case] = {
    "a key of two fields: the first found with another second": Case(
        E2_CHANGED, [("e1", "Ada"), ("e2", "Old")], ["create e2 / Grace"], mapping=COMPOSITE
    ),
    "a key of two fields: both found, the first with spaces around it": Case(
        [("e2", "Grace", CHANGED)],
        [(" e2", "Grace"), ("e2", "Other")],
        ["update  e2 / Grace"],
        mapping=COMPOSITE,
    ),
    "a key of two fields: the second empty": Case(
        [("e2", "", CHANGED), ("e3", "Alan", CHANGED)],
        [("e2", "Old"), ("e3", "Alan")],
        [],
        mapping=COMPOSITE,
    ),
    "a key of two fields: new": Case(
        [("e9", "New", CHANGED)], [("e1", "Ada")], ["create e9 / New"], mapping=COMPOSITE
    ),
    "a new key beyond latin1 in a latin1 column": Case(
        [("e1", "Ada", UNCHANGED), ("\u0141ukasz", "New", CHANGED), ("e2", "Grace", CHANGED)],
        [("e1", "Ada"), ("e2", "Old")],
        ["create \u0141ukasz", "update e2"],
        key_type={"mariadb": "VARCHAR(64) CHARACTER SET latin1"},
    ),
    "a new key beyond utf8mb3 in a utf8mb3 column": Case(
        [("e1", "Ada", UNCHANGED), ("e\U0001f600", "New", CHANGED), ("e2", "Grace", CHANGED)],
        [("e1", "Ada"), ("e2", "Old")],
        ["create e\U0001f600", "update e2"],
        key_type={"mariadb": "VARCHAR(64) CHARACTER SET utf8mb3"},
    ),
    "a new key beyond latin1 in a latin1 char(n) column": Case(
        [("\u0141ukasz", "New", CHANGED), (" e2 ", "Grace", CHANGED)],
        [("e1", "Ada"), ("e2", "Old")],
        ["create \u0141ukasz", "update e2"],
        key_type={"mariadb": "CHAR(8) CHARACTER SET latin1"},
    ),
    "a new key holding a NUL (a value no table keeps: its record fails)": Case(
        [("e1", "Ada", UNCHANGED), ("e\x009", "New", CHANGED), ("e2", "Grace", CHANGED)],
        [("e1", "Ada"), ("e2", "Old")],
        ["update e2"],
    ),
    "a char(n) key column, a new key": Case(
        [("e1", "Ada", UNCHANGED), ("e9", "New", CHANGED)],
        [("e1", "Ada")],
        {"sqlite": ["create e9"], "postgresql": ["create e9      "], "mariadb": ["create e9"]},
        key_type={"sqlite": "CHAR(8)", "postgresql": "char(8)", "mariadb": "CHAR(8)"},
    ),
    "a char(n) key column, the key with spaces around it": Case(
        [("e1", "Ada", UNCHANGED), (" e2 ", "Grace", CHANGED)],
        [("e1", "Ada"), (" e2", "Old")],
        {"sqlite": ["update  e2"], "postgresql": ["update  e2     "], "mariadb": ["update  e2"]},
        key_type={"sqlite": "CHAR(8)", "postgresql": "char(8)", "mariadb": "CHAR(8)"},
    ),
}


@pytest.mark.parametrize("case", list(CASES))
async def test_an_incremental_run_plans_with_lookups_what_it_plans_read_whole(
    sql: Sql, case: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, lean: bool
) -> None:
    await plans_as_read_whole(sql, CASES[case], tmp_path, monkeypatch, lean)


async def test_a_key_scoped_run_asking_a_key_beyond_the_columns_character_set(
    sql: Sql, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A SQL source asked for a key its key column cannot hold (MariaDB: latin1) finds no
    record of it, as a whole read does, rather than having the run refused."""
    key_type = "VARCHAR(64) CHARACTER SET latin1" if sql.kind == "mariadb" else None
    table = await sql.table(key_type, [("e1", "Ada"), ("e2", "Grace")])
    the_job = Job(
        id="scoped",
        source=Endpoint(connection="dir", table=table),
        destination=Endpoint(connection="out", table="people"),
        objects=[ObjectMapping(keys=["id"], fields=[FieldMap(to="id"), FieldMap(to="name")])],
    )
    out = SqliteConnection(id="out", path=str(tmp_path / "out.db"))
    keys = ["\u0141ukasz", "e2"]
    looked_up = outcome(await plan_between(sql.connection(), out, the_job, keys))
    with monkeypatch.context() as whole:
        whole.setattr(scoped, "source_lookup", lambda *_: None)
        assert outcome(await plan_between(sql.connection(), out, the_job, keys)) == looked_up
    assert [change["key"] for change in looked_up["changes"]] == ["e2"]


async def test_a_strict_sqlite_table_of_any_values_plans_with_lookups_as_read_whole(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, lean: bool
) -> None:
    """A STRICT table's ANY column keeps 42 a number and '42' text (no affinity): a
    lookup finds both spellings of a key, as a whole read does."""
    db = sqlite3.connect(tmp_path / "dir.db")
    with db:
        db.execute("CREATE TABLE people (id ANY, name TEXT) STRICT")
        db.executemany(
            "INSERT INTO people VALUES (?, ?)", [(42, "Old"), (4.5, "Old"), ("e1", "Ada")]
        )
    db.close()
    people = [("42", "Ada", CHANGED), ("4.5", "Bob", CHANGED), ("e1", "Ada", UNCHANGED)]
    the_job = job(KEYED, Endpoint(connection="dir", table="people"))
    target = SqliteConnection(id="dir", path=str(tmp_path / "dir.db"))
    both = await both_ways(source(tmp_path, people), target, the_job, monkeypatch, lean)
    both.agree()
    assert both.actions() == ["update 4.5", "update 42"]


async def test_a_postgresql_key_column_of_a_collation_ignoring_case_and_accents(
    pg_module: Postgresql, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, lean: bool
) -> None:
    """A text column of a nondeterministic collation finds more than asked for: its
    lookups keep the keys asked for as a run compares them, as a whole read does."""
    pg_module.psql(
        "CREATE COLLATION IF NOT EXISTS loose "
        "(provider = icu, locale = 'und-u-ks-level1', deterministic = false)"
    )
    sql = Sql("postgresql", tmp_path, pg_module)
    rows = [("e1", "Ada"), ("E2", "Other"), ("\u00e92", "Accent"), ("e3", "Old")]
    table = await sql.table('text COLLATE "loose"', rows)
    people = [("e1", "Ada", UNCHANGED), ("e2", "New", CHANGED), ("e3", "Alan", CHANGED)]
    the_job = job(KEYED, Endpoint(connection="dir", table=table))
    both = await both_ways(source(tmp_path, people), sql.connection(), the_job, monkeypatch, lean)
    both.agree()
    assert both.actions() == ["create e2", "update e3"]


SCOPED_CASES = {
    name: c
    for name, c in {**SQL_CASES, **CASES}.items()
    if "refused" not in name and "key of two fields" not in name
}


@pytest.mark.parametrize("case", list(SCOPED_CASES))
async def test_a_key_scoped_run_plans_with_lookups_what_it_plans_read_whole(
    sql: Sql, case: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Each case as a run scoped to the changed records' keys (both sides looked up, the
    source a SQLite table), and with both sides read whole."""
    c = SCOPED_CASES[case]
    key_type = (c.key_type or {}).get(sql.kind)
    table = await sql.table(key_type, c.rows)
    the_job = msgspec.structs.replace(
        job(c.mapping, Endpoint(connection="dir", table=table)), changes=None
    )
    keys = [emp for emp, _, changed in c.people if changed == CHANGED and emp]
    hr = source(tmp_path, c.people)

    async def planned() -> Outcome:
        try:
            return outcome(await plan_between(hr, sql.connection(), the_job, keys))
        except Exception as e:  # the same refusal both ways is the same outcome
            return {"refused": f"{type(e).__name__}: {e}"}

    looked_up = await planned()
    with monkeypatch.context() as whole:
        whole.setattr(scoped, "source_lookup", lambda *_: None)
        whole.setattr(scoped, "destination_lookup", lambda *_: None)
        assert await planned() == looked_up


@pytest.mark.parametrize("on_source_only", ["skip", "create"])
@pytest.mark.parametrize(
    "twice",
    ["e9", "e1", "e2"],
    ids=["a new object's", "an unchanged object's", "a changed object's"],
)
async def test_a_key_twice_in_the_source_is_refused_in_little_memory_as_in_memory(
    tmp_path: Path, on_source_only: str, twice: str
) -> None:
    """The refusal a user reads names the two records of the key, in the order they were
    read, whichever way the plan was made."""
    mapping = msgspec.structs.replace(mixes.USERS, on_source_only=on_source_only)
    folder = mixes.folder_of(tmp_path, [*mixes.PEOPLE, (twice, "Again", "Eng", "", 2)])

    async def refusal(lean: bool) -> str:
        with mixes.lean_if(lean), pytest.raises(DuplicateKey) as refused:
            await mixes.plan(folder, mixes.job(mapping), None, None)
        return str(refused.value)

    assert await refusal(True) == await refusal(False)


async def test_a_run_scoped_to_a_blank_key_plans_with_lookups_as_read_whole(
    tmp_path: Path,
) -> None:
    """A blank key asked for is no key: it scopes the run to no record, whether the sides
    are looked up or read whole (read whole, the records without a key were taken as
    its records, counted skipped and warned of); the plan says no side holds it."""
    people = [*mixes.PEOPLE, ("", "Nobody", "Eng", "", 2), ("  ", "Blank", "Eng", "", 2)]
    found = await mixes.both(mixes.folder_of(tmp_path, people), mixes.job(mixes.USERS), [" ", "e2"])
    assert [f"{change.action} {change.key}" for change in found[1]] == ["update e2"]
    assert (found[2].skipped, found[3]) == (
        0,
        ["no source record and no destination object has the key ' ': nothing is done for it"],
    )


FIXED_WIDTH = {
    "sqlite": "id CHAR(8), name CHAR(8)",
    "postgresql": "id char(8), name char(8)",
    "mariadb": "id CHAR(8), name CHAR(8)",
}


@pytest.mark.parametrize("incremental", [False, True], ids=["full", "incremental"])
async def test_fixed_width_key_and_field_written_then_planned_again_are_unchanged(
    sql: Sql, tmp_path: Path, incremental: bool
) -> None:
    """Objects created and updated in char(n) columns (the key one of them), from values
    with spaces around them: the next run, whole or incremental, finds nothing to do."""
    name = f"fixed_{sql.kind}_{'changed' if incremental else 'all'}"
    people = [(" e1 ", " Ada ", CHANGED), ("e2", "Grace  ", CHANGED), ("e3 ", " Alan", CHANGED)]
    columns = FIXED_WIDTH[sql.kind]
    await written_then_unchanged(sql, tmp_path, name, columns, people, incremental)


@pytest.fixture
def padding(my_database: MariaDb) -> Iterator[MariaDb]:
    """The session's MariaDB with PAD_CHAR_TO_FULL_LENGTH in its global sql_mode (a
    session started now begins with it) for the test's time."""
    before = my_database.sql("SELECT @@GLOBAL.sql_mode").strip()
    try:
        my_database.sql(f"SET GLOBAL sql_mode = '{before},PAD_CHAR_TO_FULL_LENGTH'")
    except RuntimeError as e:  # a server given by URL, to a login that may not
        pytest.skip(f"cannot set the server's sql_mode: {e}")
    try:
        yield my_database
    finally:
        my_database.sql(f"SET GLOBAL sql_mode = '{before}'")


async def test_a_mariadb_server_padding_char_n_to_full_length_finds_nothing_to_do_again(
    padding: MariaDb, tmp_path: Path
) -> None:
    """A server whose sql_mode reads CHAR(n) values padded to their width: its objects,
    written once, are found unchanged by the next run, whole or scoped to a key looked
    up, and the key asked for is found."""
    padding.sql(
        f"CREATE TABLE fixed ({FIXED_WIDTH['mariadb']}); INSERT INTO fixed VALUES ('e1', 'Old')"
    )
    assert "PAD_CHAR_TO_FULL_LENGTH" in padding.sql("SELECT @@SESSION.sql_mode")
    hr = source(tmp_path, [(" e1 ", " Ada ", CHANGED), ("e2", "Grace", CHANGED)])
    target = sql_connection("mysql", padding, tmp_path, "dir")
    the_job = job(KEYED, Endpoint(connection="dir", table="fixed"))
    first = await plan_between(hr, target, the_job, None)
    assert sorted(f"{c.action} {c.key.strip()}" for c in first.plan.changes) == [
        "create e2",
        "update e1",
    ]
    outcomes, held = await applied(hr, target, the_job, first.plan.changes)
    assert [outcome.error for outcome in outcomes] == [None, None]
    assert held == [{"id": " e1", "name": " Ada"}, {"id": "e2", "name": "Grace"}]
    for keys in (None, ["e1"], ["e2"]):
        again = await plan_between(hr, target, the_job, keys)
        assert [f"{c.action} {c.key} {c.set}" for c in again.plan.changes] == [], keys
        # Scoped to a key: that key looked up, and found.
        assert again.destination_records == (2 if keys is None else 1), keys


SPELLINGS: list[Any] = [
    "42",
    "042",
    "42.0",
    42,
    42.0,
    4.5,
    "4.5",
    " 42",
    "1e2",
    100,
    -0.0,
    "e1",
    " e1",
    "E1",
    "\u00e9",
    "e\u0301",
    "",
    None,
    9_007_199_254_740_993,
    "9007199254740993",
]
KEY_COLUMNS = ["", "INTEGER", "REAL", "NUMERIC", "TEXT", "ANY STRICT"]


@settings(max_examples=300, deadline=None, suppress_health_check=list(HealthCheck))
@given(
    st.sampled_from(KEY_COLUMNS),
    st.lists(st.tuples(st.sampled_from(SPELLINGS), st.booleans()), min_size=1, max_size=4),
    st.lists(st.sampled_from(SPELLINGS), min_size=1, max_size=4),
)
def test_any_keys_in_a_sqlite_key_column_of_any_type_plan_with_lookups_as_read_whole(
    declared: str, people: list[tuple[Any, bool]], rows: list[Any]
) -> None:
    """Keys in every spelling, in a source of any values and a destination key column of
    any type (or none): an incremental run plans as it does reading the destination
    whole."""
    key_type, strict = declared.replace(" STRICT", ""), declared.endswith("STRICT")
    with tempfile.TemporaryDirectory() as folder, pytest.MonkeyPatch.context() as patch:
        where = Path(folder)
        db = sqlite3.connect(where / "dir.db")
        with db:
            db.execute(
                f"CREATE TABLE people (id {key_type}, name TEXT){' STRICT' if strict else ''}"
            )
            db.executemany("INSERT INTO people VALUES (?, 'Old')", [(key,) for key in rows])
        db.close()
        given_people = [
            (key, f"P{n}", CHANGED if changed else UNCHANGED)
            for n, (key, changed) in enumerate(people)
        ]
        hr = source(where, given_people)
        target = SqliteConnection(id="dir", path=str(where / "dir.db"))
        the_job = job(KEYED, Endpoint(connection="dir", table="people"))
        found = asyncio.run(both_ways(hr, target, the_job, patch, False))
        # What a lookup does not read, it does not count: destination records without a
        # key, or holding twice a key no changed record has, are skipped only read whole.
        for seen in (found.looked_up, found.whole):
            if "counts" in seen:
                seen["counts"]["skipped"] = None
        assert found.looked_up == found.whole


TEXT_SPELLINGS = [
    "e1",
    " e1",
    "e1 ",
    "E1",
    "e1\t",
    "\u00a0e1",
    "\u00e9",
    "e\u0301",
    "\u00e9 ",
    "E\u0301",
    "ss",
    "\u00df",
    "",
    "  ",
    "\u0141",
    "l",
    "L",
    "e1e1e1e1e1",
]
TEXT_COLUMNS = {
    "postgresql": ["text", "varchar(8)", "char(8)", 'text COLLATE "C"', "name", "citext"],
    "mariadb": [
        "VARCHAR(16) COLLATE utf8mb4_general_ci",
        "VARCHAR(16) COLLATE utf8mb4_bin",
        "VARCHAR(16) COLLATE utf8mb4_nopad_bin",
        "VARCHAR(16) CHARACTER SET latin1",
        "CHAR(8) COLLATE utf8mb4_unicode_ci",
    ],
}


@pytest.mark.parametrize("kind", ["postgresql", "mariadb"])
@settings(max_examples=60, deadline=None, suppress_health_check=list(HealthCheck))
@given(
    st.data(),
    st.lists(st.tuples(st.sampled_from(TEXT_SPELLINGS), st.booleans()), min_size=1, max_size=4),
    st.lists(st.sampled_from(TEXT_SPELLINGS), min_size=1, max_size=4),
)
def test_any_keys_in_a_text_key_column_of_a_server_plan_with_lookups_as_read_whole(
    kind: str,
    request: pytest.FixtureRequest,
    data: st.DataObject,
    people: list[tuple[str, bool]],
    rows: list[str],
) -> None:
    """Keys in every spelling in PostgreSQL and MariaDB text key columns of several types
    and collations: an incremental run, and a run scoped to its changed records' keys,
    plan with lookups as they do reading the sides whole."""
    server = request.getfixturevalue("pg_module" if kind == "postgresql" else "my_module")
    declared = data.draw(st.sampled_from(TEXT_COLUMNS[kind]))
    if declared == "citext":
        server.psql("CREATE EXTENSION IF NOT EXISTS citext")
    if kind == "mariadb" and "latin1" in declared:  # a value it cannot hold fails its insert
        rows = [row for row in rows if all(ord(c) < 0x100 for c in row)]
    if "(8)" in declared:
        rows = [row for row in rows if len(row) <= 8]
    with tempfile.TemporaryDirectory() as folder, pytest.MonkeyPatch.context() as patch:
        where = Path(folder)
        sql = Sql(kind, where, server)
        table = asyncio.run(sql.table(declared, [(key, "Old") for key in rows]))
        given_people = [
            (key, f"P{n}", CHANGED if changed else UNCHANGED)
            for n, (key, changed) in enumerate(people)
        ]
        hr = source(where, given_people)
        the_job = job(KEYED, Endpoint(connection="dir", table=table))
        found = asyncio.run(both_ways(hr, sql.connection(), the_job, patch, False))
        for seen in (found.looked_up, found.whole):
            if "counts" in seen:
                seen["counts"]["skipped"] = None
        assert found.looked_up == found.whole
        keys = [key for key, changed in people if changed]
        scoped_job = msgspec.structs.replace(the_job, changes=None)

        async def planned() -> Outcome:
            try:
                return outcome(await plan_between(hr, sql.connection(), scoped_job, keys))
            except Exception as e:  # the same refusal both ways is the same outcome
                return {"refused": f"{type(e).__name__}: {e}"}

        looked_up = asyncio.run(planned())
        patch.setattr(scoped, "source_lookup", lambda *_: None)
        patch.setattr(scoped, "destination_lookup", lambda *_: None)
        assert asyncio.run(planned()) == looked_up


@pytest.mark.parametrize("kind", ["postgresql", "mariadb"])
@settings(max_examples=40, deadline=None, suppress_health_check=list(HealthCheck))
@given(
    st.data(),
    st.lists(st.sampled_from(TEXT_SPELLINGS), min_size=1, max_size=4),
    st.lists(st.sampled_from(TEXT_SPELLINGS), min_size=1, max_size=3),
)
def test_any_keys_asked_of_a_server_source_plan_with_lookups_as_read_whole(
    kind: str, request: pytest.FixtureRequest, data: st.DataObject, rows: list[str], keys: list[str]
) -> None:
    """A run scoped to keys in every spelling, its source a PostgreSQL or MariaDB table of
    keys in every spelling: looked up, it plans (or is refused) as read whole."""
    server = request.getfixturevalue("pg_module" if kind == "postgresql" else "my_module")
    declared = data.draw(st.sampled_from(TEXT_COLUMNS[kind]))
    if declared == "citext":  # whichever test of the module draws it first
        server.psql("CREATE EXTENSION IF NOT EXISTS citext")
    if kind == "mariadb" and "latin1" in declared:
        rows = [row for row in rows if all(ord(c) < 0x100 for c in row)]
    if "(8)" in declared:
        rows = [row for row in rows if len(row) <= 8]
    with tempfile.TemporaryDirectory() as folder, pytest.MonkeyPatch.context() as patch:
        where = Path(folder)
        sql = Sql(kind, where, server)
        table = asyncio.run(sql.table(declared, [(key, f"P{n}") for n, key in enumerate(rows)]))
        the_job = Job(
            id="scoped",
            source=Endpoint(connection="dir", table=table),
            destination=Endpoint(connection="out", table="people"),
            objects=[ObjectMapping(keys=["id"], fields=[FieldMap(to="id"), FieldMap(to="name")])],
        )
        out = SqliteConnection(id="out", path=str(where / "out.db"))

        async def planned() -> Outcome:
            try:
                return outcome(await plan_between(sql.connection(), out, the_job, keys))
            except Exception as e:  # the same refusal both ways is the same outcome
                return {"refused": f"{type(e).__name__}: {e}"}

        looked_up = asyncio.run(planned())
        patch.setattr(scoped, "source_lookup", lambda *_: None)
        assert asyncio.run(planned()) == looked_up
