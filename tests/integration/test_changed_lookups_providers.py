"""Incremental runs that look up their changed records' objects plan exactly what reading
the destination whole plans — on real destinations, with messy keys.

Each case plans the same incremental run twice: once as a run does (the changed records
read first, their objects looked up by key in the destination), once with the lookups
turned off (the destination read whole, in memory), and compares the plans: hash,
changes, counts, failed records and warnings (or the same refusal). The source is a
SQLite table; the destination is SQLite, PostgreSQL, MariaDB (whose default collations
ignore case and trailing spaces) or OpenLDAP (whose matching rules mostly ignore case
and insignificant spaces), holding keys stored with spaces around them, in another case,
in another Unicode form, as numbers, twice, empty or not at all.
"""

from __future__ import annotations

import itertools
import sqlite3
import unicodedata
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import asyncmy
import asyncpg
import msgspec
import pytest

from core.engine import DuplicateKey
from core.engine.lifecycle import Lifecycle
from schemas.connections import Connection, SqliteConnection
from schemas.jobs import Changes, Endpoint, FieldMap, Job, ObjectMapping, Safety
from services.runner.planning import PlannedRun, low_memory, scoped
from services.runner.planning.reading import Reading
from tests.integration.ldap_helpers import admin
from tests.integration.ldap_helpers import connection as ldap_connection
from tests.ldap_server import SUFFIX, Slapd
from tests.mysql_server import Server as MariaDb
from tests.postgresql_server import Server as Postgresql
from tests.sql_servers import own_database, sql_connection

from .test_scoped_reads import plan_between

SINCE = "2"
CHANGED, UNCHANGED = 2, 1
NOW = datetime(2026, 6, 1, tzinfo=UTC)
NFC = unicodedata.normalize("NFC", "Zoë")
NFD = unicodedata.normalize("NFD", "Zoë")
ODD = "o'k (a*b) \\ c"
UUID = "a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11"
_tables = itertools.count(1)

# The databases and directory subtree of this module, one each on the session's servers.


@pytest.fixture(scope="module")
def pg_module(postgresql: Postgresql) -> Iterator[Postgresql]:
    s = postgresql
    yield from own_database(
        s.psql,
        lambda name: Postgresql(s.host, s.port, s.user, s.password, name),
        '"',
        " WITH (FORCE)",
    )


@pytest.fixture(scope="module")
def my_module(mysql: MariaDb) -> Iterator[MariaDb]:
    s = mysql
    yield from own_database(
        s.sql, lambda name: MariaDb(s.host, s.port, s.user, s.password, name), "`"
    )


@dataclass
class Sql:
    """A SQL destination: its kind and where its tables go."""

    kind: str
    folder: Path
    server: Postgresql | MariaDb | None = None

    def connection(self) -> Connection:
        if self.server is None:
            return SqliteConnection(id="dir", path=str(self.folder / "dir.db"))
        if isinstance(self.server, Postgresql):
            return sql_connection("postgresql", self.server, self.folder, "dir")
        return sql_connection("mysql", self.server, self.folder, "dir")

    async def table(self, key_type: str | None, rows: Sequence[tuple[Any, str]]) -> str:
        """A new table (id, name), `id` of `key_type` (None: the kind's text column)."""
        name = f"people_{next(_tables)}"
        if self.kind == "sqlite":
            db = sqlite3.connect(self.folder / "dir.db")
            with db:
                db.execute(f"CREATE TABLE {name} (id {key_type or ''}, name TEXT)")
                db.executemany(f"INSERT INTO {name} VALUES (?, ?)", rows)
            db.close()
        elif isinstance(self.server, Postgresql):
            await _pg_table(self.server, name, key_type or "text", rows)
        else:
            assert isinstance(self.server, MariaDb)
            await _my_table(self.server, name, key_type or "VARCHAR(64)", rows)
        return name


async def _pg_table(
    server: Postgresql, name: str, key_type: str, rows: Sequence[tuple[Any, str]]
) -> None:
    pg = await asyncpg.connect(server.dsn())
    try:
        await pg.execute(f"CREATE TABLE {name} (id {key_type}, name text)")
        given = [(None if key is None else str(key), n) for key, n in rows]  # as text, cast
        sql = f"INSERT INTO {name} VALUES ($1::text::{key_type}, $2)"
        await pg.executemany(sql, given)
    finally:
        await pg.close()


async def _my_table(
    server: MariaDb, name: str, key_type: str, rows: Sequence[tuple[Any, str]]
) -> None:
    my: Any = await asyncmy.connect(
        host=server.host,
        port=server.port,
        user=server.user,
        password=server.password,
        database=server.database,
        charset="utf8mb4",
        autocommit=True,
    )
    try:
        async with my.cursor() as cursor:
            await cursor.execute(f"CREATE TABLE {name} (id {key_type}, name VARCHAR(64))")
            await cursor.executemany(f"INSERT INTO {name} VALUES (%s, %s)", rows)
    finally:
        my.close()


@pytest.fixture(params=["sqlite", "postgresql", "mariadb"])
def sql(request: pytest.FixtureRequest, tmp_path: Path) -> Sql:
    kind = str(request.param)
    if kind == "postgresql":
        return Sql(kind, tmp_path, request.getfixturevalue("pg_module"))
    if kind == "mariadb":
        return Sql(kind, tmp_path, request.getfixturevalue("my_module"))
    return Sql(kind, tmp_path)


@pytest.fixture(params=[False, True], ids=["in-memory", "lean"])
def lean(request: pytest.FixtureRequest) -> bool:
    """Whether the run's plan takes the low-memory path (every destination is large)."""
    return bool(request.param)


def source(folder: Path, rows: Sequence[tuple[str | None, str, int]]) -> SqliteConnection:
    """The source: people (emp, name), those marked CHANGED changed since the watermark."""
    path = folder / "hr.db"
    db = sqlite3.connect(path)
    with db:
        db.execute("CREATE TABLE hr (emp, name, changed)")
        db.executemany("INSERT INTO hr VALUES (?, ?, ?)", rows)
    db.close()
    return SqliteConnection(id="hr", path=str(path))


KEYED = ObjectMapping(keys=["id"], fields=[FieldMap(to="id", from_="emp"), FieldMap(to="name")])


def job(mapping: ObjectMapping, destination: Endpoint) -> Job:
    return Job(
        id="changed",
        source=Endpoint(connection="hr", table="hr"),
        destination=destination,
        changes=Changes(field="changed"),
        objects=[mapping],
        safety=Safety(max_percent=100),
    )


Outcome = dict[str, Any]


def outcome(planned: PlannedRun) -> Outcome:
    """What a user is shown of a plan."""
    plan = planned.plan
    return {
        "hash": plan.hash,
        "changes": [msgspec.to_builtins(change) for change in plan.changes],
        "counts": msgspec.to_builtins(plan.counts),
        "record errors": [msgspec.to_builtins(error) for error in planned.record_errors],
    }


async def planned(
    source_db: Connection, target_db: Connection, the_job: Job, reading: Reading
) -> tuple[Outcome, list[str], PlannedRun | None]:
    """The plan's outcome and warnings (or the refusal), and the plan."""
    try:
        run = await plan_between(source_db, target_db, the_job, None, reading)
    except Exception as e:  # the same refusal both ways is the same outcome
        return {"refused": f"{type(e).__name__}: {e}"}, [], None
    return outcome(run), list(run.plan.warnings), run


@dataclass
class BothWays:
    looked_up: Outcome
    whole: Outcome
    warnings: tuple[list[str], list[str]]
    run: PlannedRun | None
    """The plan made as a run makes it."""

    def agree(self) -> None:
        assert self.looked_up == self.whole
        assert self.warnings[0] == self.warnings[1]

    def actions(self) -> list[str]:
        if "refused" in self.looked_up:
            return [self.looked_up["refused"].split(":")[0]]
        return sorted(f"{c['action']} {c['key']}" for c in self.looked_up["changes"])


async def both_ways(
    source_db: Connection,
    target_db: Connection,
    the_job: Job,
    monkeypatch: pytest.MonkeyPatch,
    lean: bool,
    reading: Reading | None = None,
) -> BothWays:
    """The incremental run planned as a run plans it (`lean`: for a large destination),
    and in memory with the destination read whole."""
    reading = reading or Reading(incremental=True, since=SINCE)
    with monkeypatch.context() as large:
        if lean:
            large.setattr(low_memory, "LEAN_ABOVE", 0)
        looked_up, warned, run = await planned(source_db, target_db, the_job, reading)
    with monkeypatch.context() as off:
        off.setattr(scoped, "changes_looked_up", lambda *_: False)
        whole, warned_whole, _ = await planned(source_db, target_db, the_job, reading)
    return BothWays(looked_up, whole, (warned, warned_whole), run)


# SQL destinations. Each case: the source's people (emp, name, changed), the destination
# table's key column type per kind (None: text) and rows (id, name), and the plan.
E2_CHANGED: list[tuple[str | None, str, int]] = [("e1", "Ada", UNCHANGED), ("e2", "Grace", CHANGED)]


@dataclass(frozen=True)
class Case:
    people: Sequence[tuple[str | None, str, int]]
    rows: Sequence[tuple[Any, str]]
    planned: list[str] | dict[str, list[str]]
    """The plan's actions (per kind where they differ)."""
    key_type: dict[str, str] | None = None
    mapping: ObjectMapping = KEYED

    def actions(self, kind: str) -> list[str]:
        return self.planned if isinstance(self.planned, list) else self.planned[kind]


SQL_CASES: dict[str, Case] = {
    "the changed record's object, found": Case(
        E2_CHANGED, [("e1", "Ada"), ("e2", "Old")], ["update e2"]
    ),
    "its key stored with spaces around it": Case(
        E2_CHANGED, [("e1", "Ada"), ("  e2 ", "Old")], ["update   e2 "]
    ),
    "its key stored with trailing spaces (MariaDB pads them)": Case(
        E2_CHANGED, [("e1", "Ada"), ("e2  ", "Old")], ["update e2  "]
    ),
    "its key stored with a tab, a newline, a no-break space": Case(
        [("e1", "Ada", CHANGED), ("e2", "Grace", CHANGED), ("e3", "Alan", CHANGED)],
        [("\te1", "Old"), ("e2\n", "Old"), ("\u00a0e3", "Old")],
        ["update \te1", "update \u00a0e3", "update e2\n"],
    ),
    "the changed record's key has spaces around it": Case(
        [("e1", "Ada", UNCHANGED), (" e2\t", "Grace", CHANGED)],
        [("e1", "Ada"), ("e2", "Old")],
        ["update e2"],
    ),
    "its key stored in another case (keys compared with case)": Case(
        [("e1", "Ada", UNCHANGED), ("E2", "Grace", CHANGED)],
        [("e1", "Ada"), ("e2", "Old")],
        ["create E2"],
    ),
    "two objects whose keys differ only in case": Case(
        E2_CHANGED, [("e2", "Old"), ("E2", "Other")], ["update e2"]
    ),
    "its key stored decomposed (not NFC)": Case(
        [(NFC, "Zoe", CHANGED)], [(NFD, "Old")], ["update " + NFD]
    ),
    "the changed record's key decomposed, the object's composed": Case(
        [(NFD, "Zoe", CHANGED)], [(NFC, "Old")], ["update " + NFC]
    ),
    "a number key column: 042 in the source, 42 stored": Case(
        [("042", "Ada", CHANGED)],
        [(42, "Old")],
        ["update 42"],
        key_type={"sqlite": "INTEGER", "postgresql": "integer", "mariadb": "INT"},
    ),
    "a number key column: 42 changed, 42 and 7 stored": Case(
        [("42", "Ada", CHANGED), ("7", "Bob", UNCHANGED)],
        [(42, "Old"), (7, "Bob")],
        ["update 42"],
        key_type={"sqlite": "INTEGER", "postgresql": "integer", "mariadb": "INT"},
    ),
    "a decimal key column: 42 in the source, 42.0 stored": Case(
        [("42", "Ada", CHANGED)],
        [(42, "Old")],
        ["update 42.0"],
        key_type={"sqlite": "REAL", "postgresql": "numeric(5,1)", "mariadb": "DECIMAL(5,1)"},
    ),
    "a uuid key column: the changed record's key in upper case": Case(
        [(UUID.upper(), "Ada", CHANGED)],
        [(UUID, "Old")],
        {
            "sqlite": ["create " + UUID.upper()],
            "postgresql": ["update " + UUID],
            "mariadb": ["create " + UUID.upper()],
        },
        key_type={"postgresql": "uuid"},
    ),
    "a number key column: keys that are no numbers, or too large": Case(
        [("abc", "Ada", CHANGED), ("99999999999999999999", "Bob", CHANGED), ("7", "C", CHANGED)],
        [(0, "Zero"), (7, "Old")],
        {
            # SQLite's INTEGER column makes the large one a real number, as the run does
            "sqlite": ["create 1e+20", "create abc", "update 7"],
            "postgresql": ["create 99999999999999999999", "create abc", "update 7"],
            "mariadb": ["create 99999999999999999999", "create abc", "update 7"],
        },
        key_type={"sqlite": "INTEGER", "postgresql": "integer", "mariadb": "INT"},
    ),
    "a date key column: a key that is no date": Case(
        [("2026-01-02", "Ada", CHANGED), ("soon", "Bob", CHANGED)],
        [("2026-01-02", "Old")],
        ["create soon", "update 2026-01-02"],
        key_type={"sqlite": "DATE", "postgresql": "date", "mariadb": "DATE"},
    ),
    "keys holding quotes, wildcards and backslashes": Case(
        [(ODD, "Ada", CHANGED), ("e%", "Bob", CHANGED)],
        [(ODD, "Old"), ("e1", "Bob"), ("e2", "Bob")],
        ["create e%", "update " + ODD],
    ),
    "a text key column holding 042 and 42": Case(
        [("042", "Ada", CHANGED)], [("042", "Old"), ("42", "Other")], ["update 042"]
    ),
    "a char(n) key column pads its keys": Case(
        E2_CHANGED,
        [("e1", "Ada"), ("e2", "Old")],
        {"sqlite": ["update e2"], "postgresql": ["update e2      "], "mariadb": ["update e2"]},
        key_type={"sqlite": "CHAR(8)", "postgresql": "char(8)", "mariadb": "CHAR(8)"},
    ),
    "a key longer than the key column": Case(
        [("e1", "Ada", UNCHANGED), ("e2-with-a-long-key", "Grace", CHANGED)],
        [("e1", "Ada"), ("e2-w", "Old")],
        ["create e2-with-a-long-key"],
        key_type={"sqlite": "VARCHAR(4)", "postgresql": "varchar(4)", "mariadb": "VARCHAR(4)"},
    ),
    "the same key twice in the destination (a column not unique)": Case(
        E2_CHANGED, [("e1", "Ada"), ("e2", "Old"), ("e2", "Older")], []
    ),
    "the changed record's object absent": Case(
        [("e1", "Ada", UNCHANGED), ("e9", "New", CHANGED)], [("e1", "Ada")], ["create e9"]
    ),
    "a changed record whose key is empty, one NULL": Case(
        [*E2_CHANGED, ("", "Nobody", CHANGED), (None, "Null", CHANGED)],
        [("e1", "Ada"), ("e2", "Old")],
        ["update e2"],
    ),
    "two changed records of one object (spaces apart): refused both ways": Case(
        [("e2", "Grace", CHANGED), (" e2 ", "Grace2", CHANGED)],
        [("e2", "Old")],
        ["DuplicateKey"],
    ),
    # A second object whose key a run takes as the changed record's, though spelled
    # otherwise: one key held twice, the record skipped (and warned of) both ways.
    "a second object whose key has a space before it": Case(
        E2_CHANGED, [("e1", "Ada"), ("e2", "Old"), (" e2", "Older")], []
    ),
    "a second object whose key has a space after it": Case(
        E2_CHANGED, [("e1", "Ada"), ("e2", "Old"), ("e2 ", "Older")], []
    ),
    "a second object whose key has a tab, a newline or a no-break space around it": Case(
        [("e1", "Ada", CHANGED), ("e2", "Grace", CHANGED), ("e3", "Alan", CHANGED)],
        [
            ("e1", "Old"),
            ("\te1", "Older"),
            ("e2", "Old"),
            ("e2\n", "Older"),
            ("e3", "Old"),
            ("\u00a0e3\u3000", "Older"),
        ],
        [],
    ),
    "a second object whose key is decomposed": Case(
        [(NFC, "Zoe", CHANGED)], [(NFC, "Old"), (NFD, "Older")], []
    ),
    "a second object whose key is decomposed and has a space after it": Case(
        [(NFC, "Zoe", CHANGED)], [(NFC, "Old"), (NFD + " ", "Older")], []
    ),
    "a second object whose key is composed, the changed record's decomposed": Case(
        [(NFD, "Zoe", CHANGED)], [(NFD, "Old"), (NFC, "Older")], []
    ),
    "a second object whose key is the same number stored as text": Case(
        [("42", "Ada", CHANGED)], [(42, "Old"), ("42", "Older")], []
    ),
    "a second object whose key is the same real number stored as text": Case(
        [("4.5", "Ada", CHANGED)], [(4.5, "Old"), ("4.5", "Older")], []
    ),
    "two changed records of one object (case apart, keys without case)": Case(
        [("e2", "Grace", CHANGED), ("E2", "Grace2", CHANGED)],
        [("e2", "Old")],
        ["DuplicateKey"],
        mapping=msgspec.structs.replace(KEYED, case_insensitive=True),
    ),
}


async def plans_as_read_whole(
    sql: Sql, c: Case, folder: Path, monkeypatch: pytest.MonkeyPatch, lean: bool
) -> None:
    """The case's incremental run plans with lookups what it plans read whole, and its
    plan's actions are the case's."""
    key_type = (c.key_type or {}).get(sql.kind)
    table = await sql.table(key_type, c.rows)
    the_job = job(c.mapping, Endpoint(connection="dir", table=table))
    both = await both_ways(source(folder, c.people), sql.connection(), the_job, monkeypatch, lean)
    both.agree()
    assert both.actions() == sorted(c.actions(sql.kind))


@pytest.mark.parametrize("case", list(SQL_CASES))
async def test_a_sql_destination_plans_with_lookups_what_it_plans_read_whole(
    sql: Sql, case: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, lean: bool
) -> None:
    await plans_as_read_whole(sql, SQL_CASES[case], tmp_path, monkeypatch, lean)


# Where the plans' reports differ: the destination holds, besides the changed record's
# object, a record with no key at all, which a whole read counts as skipped and warns of.
DIFFERING: dict[str, tuple[Case, set[str], str]] = {
    # (case, the kinds where the plans differ, what differs)
    "a record without a key (NULL, empty, spaces) besides the changed one's object": (
        Case(
            E2_CHANGED,
            [("e1", "Ada"), ("e2", "Old"), (None, "Null"), ("", "Empty"), ("  ", "Blank")],
            ["update e2"],
        ),
        {"sqlite", "postgresql", "mariadb"},
        "read whole, each destination record without a key counts as skipped (counts."
        "skipped 3) and is warned of ('destination record skipped, empty key (id)'); "
        "looked up, they are never read: counts.skipped 0, no warning (same changes and "
        "hash)",
    ),
}


@pytest.mark.parametrize("case", list(DIFFERING))
async def test_a_sql_destination_with_keys_the_lookup_misses(
    sql: Sql,
    case: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    lean: bool,
    request: pytest.FixtureRequest,
) -> None:
    c, differs_on, reason = DIFFERING[case]
    if sql.kind in differs_on:
        marker = pytest.mark.xfail(strict=True, reason=f"{sql.kind}: {reason}")
        request.node.add_marker(marker)
    table = await sql.table(None, c.rows)
    the_job = job(c.mapping, Endpoint(connection="dir", table=table))
    both = await both_ways(source(tmp_path, c.people), sql.connection(), the_job, monkeypatch, lean)
    both.agree()
    assert both.actions() == sorted(c.actions(sql.kind))


def returning(mapping: ObjectMapping) -> Reading:
    """e2 was disabled for absence ten days ago; it is back in the source, changed."""
    lifecycle = Lifecycle(absent_since={"e2": datetime(2026, 5, 22, tzinfo=UTC)}, now=NOW)
    return Reading(incremental=True, since=SINCE, lifecycles={mapping.type: lifecycle})


LIFECYCLE = msgspec.structs.replace(
    KEYED, on_destination_only="disable", restore=True, delete_after="30d"
)


BACK: dict[str, tuple[list[tuple[str, str]], list[str]]] = {
    # (the destination's rows, the plan)
    "its object disabled": ([("e1", "Ada"), ("e2", "Old")], ["enable e2", "update e2"]),
    "its object disabled, its key with spaces": (
        [("e1", "Ada"), (" e2 ", "Old")],
        ["enable  e2 ", "update  e2 "],
    ),
    "its object gone": ([("e1", "Ada")], ["create e2"]),
}


@pytest.mark.parametrize("back", list(BACK))
async def test_a_changed_record_back_after_a_disable_plans_as_read_whole(
    sql: Sql,
    back: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    lean: bool,
) -> None:
    rows, planned = BACK[back]
    table = await sql.table(None, rows)
    the_job = job(LIFECYCLE, Endpoint(connection="dir", table=table))
    both = await both_ways(
        source(tmp_path, E2_CHANGED),
        sql.connection(),
        the_job,
        monkeypatch,
        lean,
        returning(LIFECYCLE),
    )
    both.agree()
    assert both.actions() == planned


@pytest.mark.xfail(
    strict=True,
    reason="read whole, the plan warns \"destination records share the key 'e1', none of "
    'them is changed" of an object no changed record touches; looked up, e1 is not read '
    "and the plan has no warning (hash, changes, counts and failed records agree)",
)
async def test_a_key_held_twice_that_no_changed_record_has_is_warned_of_as_read_whole(
    sql: Sql, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, lean: bool
) -> None:
    table = await sql.table(None, [("e1", "Ada"), ("e1", "Ada too"), ("e2", "Old")])
    the_job = job(KEYED, Endpoint(connection="dir", table=table))
    both = await both_ways(
        source(tmp_path, E2_CHANGED), sql.connection(), the_job, monkeypatch, lean
    )
    assert both.looked_up == both.whole
    assert both.warnings[0] == both.warnings[1]


# LDAP destinations: entries named by a counter (cn=p<n>), so that their keys may hold
# anything; `uid` is matched without case and insignificant spaces (caseIgnoreMatch), the
# test schema's `id` with case (caseExactMatch).

_entries = itertools.count(1)


@pytest.fixture(scope="module")
def ldap_module(slapd: Slapd) -> str:
    """A subtree of this module's own on the session's slapd."""
    ou = f"changed-{next(_entries)}-{id(slapd)}"
    slapd.ldapadd(f"dn: ou={ou},{SUFFIX}\nobjectClass: organizationalUnit\nou: {ou}\n")
    return f"ou={ou},{SUFFIX}"


def container(slapd: Slapd, below: str, key: str, rows: Sequence[tuple[Any, str]]) -> str:
    """A new container below `below` holding an entry per row (key, name): an
    inetOrgPerson with that uid (`key` "uid"; a list: several), or an idsyncRecord with
    that id."""
    ou = f"c{next(_entries)}"
    dn = f"ou={ou},{below}"
    with admin(slapd) as conn:
        assert conn.add(dn, ["organizationalUnit"], {"ou": ou}), conn.result
        for value, name in rows:
            rdn = "cn" if key == "uid" else "description"
            attributes: dict[str, str | list[str]] = {rdn: f"p{next(_entries)}"}
            if key == "uid":
                classes, attributes["sn"] = ["inetOrgPerson"], name
            else:
                classes, attributes["name"] = ["idsyncRecord"], name
            if value is not None:
                attributes[key] = value
            entry = f"{rdn}={attributes[rdn]},{dn}"
            assert conn.add(entry, classes, attributes), conn.result
    return dn


def ldap_mapping(key: str) -> ObjectMapping:
    name = "sn" if key == "uid" else "name"
    return ObjectMapping(
        keys=[key], fields=[FieldMap(to=key, from_="emp"), FieldMap(to=name, from_="name")]
    )


LDAP_CASES: dict[str, tuple[str, Case, str | None]] = {
    # (the key attribute, the case, None or what differs)
    "uid: the changed record's object, found": (
        "uid",
        Case(E2_CHANGED, [("e1", "Ada"), ("e2", "Old")], ["update e2"]),
        None,
    ),
    "uid: its key stored with spaces around it": (
        "uid",
        Case(E2_CHANGED, [("e1", "Ada"), ("  e2 ", "Old")], ["update   e2 "]),
        None,
    ),
    "uid: its key stored with a tab after it": (
        "uid",
        Case(E2_CHANGED, [("e1", "Ada"), ("e2\t", "Old")], ["update e2\t"]),
        None,
    ),
    # uid compares without case: a create would land on E2's entry, which an unchanged
    # source record may hold; an incremental run leaves it out (a full run decides).
    "uid: its key stored in another case (keys compared with case)": (
        "uid",
        Case(E2_CHANGED, [("e1", "Ada"), ("E2", "Old")], []),
        None,
    ),
    "uid: two objects whose keys differ only in case": (
        "uid",
        Case(E2_CHANGED, [("e2", "Old"), ("E2", "Other")], ["update e2"]),
        None,
    ),
    "uid: keys without case, its key stored in another case": (
        "uid",
        Case(
            E2_CHANGED,
            [("e1", "Ada"), ("E2", "Old")],
            ["update E2"],
            mapping=msgspec.structs.replace(ldap_mapping("uid"), case_insensitive=True),
        ),
        None,
    ),
    "uid: its key stored decomposed": (
        "uid",
        Case([(NFC, "Zoe", CHANGED)], [(NFD, "Old")], ["update " + NFD]),
        None,
    ),
    "uid: the same key on two entries": (
        "uid",
        Case(E2_CHANGED, [("e1", "Ada"), ("e2", "Old"), ("e2", "Older")], []),
        None,
    ),
    "uid: a second entry whose key has a space around it": (
        "uid",
        Case(E2_CHANGED, [("e1", "Ada"), ("e2", "Old"), (" e2 ", "Older")], []),
        None,
    ),
    "uid: a second entry whose key is decomposed": (
        "uid",
        Case([(NFC, "Zoe", CHANGED)], [(NFC, "Old"), (NFD, "Older")], []),
        None,
    ),
    "uid: a second entry whose key has a tab after it": (
        "uid",
        Case(E2_CHANGED, [("e1", "Ada"), ("e2", "Old"), ("e2\t", "Older")], []),
        "read whole, 'e2' and 'e2\\t' are one key held twice: e2 is skipped (counts.skipped "
        "1, a warning, no change); looked up, (uid=e2) does not match 'e2\\t' (a tab is no "
        "insignificant space to slapd): 'update e2' planned, another hash",
    ),
    "uid: a second entry whose key has a no-break space before it": (
        "uid",
        Case(E2_CHANGED, [("e1", "Ada"), ("e2", "Old"), ("\u00a0e2", "Older")], []),
        None,
    ),
    "uid: an entry with two uids besides the changed record's object": (
        "uid",
        Case(E2_CHANGED, [("e1", "Ada"), ("e2", "Old"), (["e5", "e6"], "Two")], ["update e2"]),
        "read whole, the entry with two uids counts as skipped (counts.skipped 1) and is "
        "warned of ('destination record skipped, multi-valued key'); looked up, it is "
        "never read: counts.skipped 0, no warning (same changes and hash)",
    ),
    "uid: the changed record's object has two uids": (
        "uid",
        Case(E2_CHANGED, [("e1", "Ada"), (["e2", "x2"], "Old")], ["create e2"]),
        None,
    ),
    "uid: keys holding filter characters": (
        "uid",
        Case(
            [(ODD, "Ada", CHANGED), ("e*", "Bob", CHANGED)],
            [(ODD, "Old"), ("e1", "Bob"), ("e2", "Bob")],
            ["create e*", "update " + ODD],
        ),
        None,
    ),
    "uid: the changed record's object absent": (
        "uid",
        Case([("e9", "New", CHANGED)], [("e1", "Ada")], ["create e9"]),
        None,
    ),
    "uid: an entry without a uid besides the changed record's object": (
        "uid",
        Case(E2_CHANGED, [("e1", "Ada"), ("e2", "Old"), (None, "Nobody")], ["update e2"]),
        "read whole, the entry without a uid counts as skipped (counts.skipped 1) and is "
        "warned of ('destination record skipped, empty key (uid)'); looked up, it is never "
        "read: counts.skipped 0, no warning (same changes and hash)",
    ),
    "id (with case): two objects whose keys differ only in case": (
        "id",
        Case(E2_CHANGED, [("e2", "Old"), ("E2", "Other")], ["update e2"]),
        None,
    ),
    "id (with case): its key stored in another case": (
        "id",
        Case(E2_CHANGED, [("e1", "Ada"), ("E2", "Old")], ["create e2"]),
        None,
    ),
    "id (with case): a second entry whose key has a space after it": (
        "id",
        Case(E2_CHANGED, [("e1", "Ada"), ("e2", "Old"), ("e2 ", "Older")], []),
        None,
    ),
}


@pytest.mark.parametrize("case", list(LDAP_CASES))
async def test_an_ldap_destination_plans_with_lookups_what_it_plans_read_whole(
    slapd: Slapd,
    ldap_module: str,
    case: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    lean: bool,
    request: pytest.FixtureRequest,
) -> None:
    key, c, differs = LDAP_CASES[case]
    if differs is not None:
        request.node.add_marker(pytest.mark.xfail(strict=True, reason=differs))
    mapping = c.mapping if c.mapping is not KEYED else ldap_mapping(key)
    where = container(slapd, ldap_module, key, c.rows)
    classes = ["inetOrgPerson"] if key == "uid" else ["idsyncRecord"]
    destination = Endpoint(connection="dir", container=where, object_classes=classes)
    both = await both_ways(
        source(tmp_path, c.people),
        ldap_connection(tmp_path, slapd.url),
        job(mapping, destination),
        monkeypatch,
        lean,
    )
    both.agree()
    assert both.actions() == sorted(c.actions("ldap"))


MANY = 150
"""Changed records: more than an LDAP search (100) looks up at once."""
SQL_MANY = 600
"""Changed records: more than MariaDB looks up at once in a column that is not text
(500); the other columns are looked up in one query."""


def many(count: int) -> tuple[list[tuple[str | None, str, int]], list[tuple[Any, str]]]:
    """`count` people, all changed, every third renamed; their objects, one with its key
    stored with spaces (found by a whole read alone: the destination then read whole)."""
    people: list[tuple[str | None, str, int]] = [
        (f"p{n:04}", f"Name {n}", CHANGED) for n in range(count)
    ]
    rows: list[tuple[Any, str]] = [
        (f"p{n:04}", f"Name {n}" if n % 3 else "Old") for n in range(count)
    ]
    return people, rows


@pytest.mark.parametrize("spaced", [False, True], ids=["all found", "one stored with spaces"])
async def test_many_changed_records_looked_up_plan_as_read_whole(
    sql: Sql, spaced: bool, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, lean: bool
) -> None:
    people, rows = many(SQL_MANY)
    if spaced:
        rows[-1] = (f" {rows[-1][0]} ", rows[-1][1])
    table = await sql.table(None, rows)
    the_job = job(KEYED, Endpoint(connection="dir", table=table))
    both = await both_ways(source(tmp_path, people), sql.connection(), the_job, monkeypatch, lean)
    both.agree()  # and the key stored with spaces is written without them
    assert len(both.actions()) == len(range(0, SQL_MANY, 3)) + spaced
    assert both.run is not None
    assert both.run.destination_records == SQL_MANY


async def test_many_changed_records_of_a_number_column_looked_up_plan_as_read_whole(
    sql: Sql, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, lean: bool
) -> None:
    """Looked up a few hundred at a time (MariaDB), each object found once."""
    people = [(str(n), f"Name {n}", CHANGED) for n in range(1, SQL_MANY + 1)]
    rows = [(n, f"Name {n}" if n % 3 else "Old") for n in range(1, SQL_MANY + 1)]
    key_type = {"sqlite": "INTEGER", "postgresql": "integer", "mariadb": "INT"}[sql.kind]
    table = await sql.table(key_type, rows)
    the_job = job(KEYED, Endpoint(connection="dir", table=table))
    both = await both_ways(source(tmp_path, people), sql.connection(), the_job, monkeypatch, lean)
    both.agree()
    assert len(both.actions()) == len(range(3, SQL_MANY + 1, 3))
    assert both.run is not None
    assert both.run.destination_records == SQL_MANY


@pytest.mark.parametrize("spaced", [False, True], ids=["all found", "one stored with a tab"])
async def test_many_changed_entries_looked_up_in_several_searches_plan_as_read_whole(
    slapd: Slapd,
    ldap_module: str,
    spaced: bool,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    lean: bool,
) -> None:
    """The entries found by each search of a lookup (100 keys a search) keep their DNs for
    the plan's identifiers, as a whole read gives them."""
    people, rows = many(MANY)
    if spaced:
        rows[-1] = (f"{rows[-1][0]}\t", rows[-1][1])
    where = container(slapd, ldap_module, "uid", rows)
    destination = Endpoint(connection="dir", container=where, object_classes=["inetOrgPerson"])
    both = await both_ways(
        source(tmp_path, people),
        ldap_connection(tmp_path, slapd.url),
        job(ldap_mapping("uid"), destination),
        monkeypatch,
        lean,
    )
    both.agree()
    assert len(both.actions()) == len(range(0, MANY, 3)) + spaced


async def test_an_entry_two_searches_of_a_lookup_find_is_one_object(
    slapd: Slapd, ldap_module: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, lean: bool
) -> None:
    """uid ignores case: the search for p0000 (the first hundred keys) and the one for
    P0000 (the last) both find the entries p0000 and P0000; a source holding both keys
    is refused (one object where the key ignores case: a create would land on the
    other's entry), looked up as read whole."""
    people, rows = many(MANY)
    people.append(("P0000", "Twin", CHANGED))
    rows.append(("P0000", "Twin"))
    where = container(slapd, ldap_module, "uid", rows)
    destination = Endpoint(connection="dir", container=where, object_classes=["inetOrgPerson"])
    both = await both_ways(
        source(tmp_path, people),
        ldap_connection(tmp_path, slapd.url),
        job(ldap_mapping("uid"), destination),
        monkeypatch,
        lean,
    )
    both.agree()
    assert both.actions() == ["DuplicateKey"]
    assert "'P0000' in two cases" in str(both.looked_up["refused"])


# A run scoped to a key (`idsync job run --key`) looks its object up the same way.
TWICE: dict[str, tuple[Any, Any]] = {
    # (the key asked for, as the object holds it; the second object's key)
    "a space before it": ("e2", " e2"),
    "a tab after it": ("e2", "e2\t"),
    "a no-break space around it": ("e2", "\u00a0e2\u00a0"),
    "decomposed": (NFC, NFD),
    "decomposed, an ideographic space after it": (NFC, NFD + "\u3000"),
    "the same number, as text": (42, "42"),
}


@pytest.mark.parametrize("twice", list(TWICE))
async def test_a_key_scoped_run_finds_the_key_held_twice_in_two_spellings(
    sql: Sql, twice: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The key's two objects are found by the lookup (the third row is not read): the
    record is skipped as ambiguous, as when the destination is read whole."""
    stored, other = TWICE[twice]
    asked = unicodedata.normalize("NFC", str(stored))
    table = await sql.table(None, [("e1", "Ada"), (stored, "Old"), (other, "Older")])
    the_job = job(KEYED, Endpoint(connection="dir", table=table))
    hr = source(tmp_path, [("e1", "Ada", UNCHANGED), (asked, "Grace", CHANGED)])
    looked_up = await plan_between(hr, sql.connection(), the_job, [asked])
    with monkeypatch.context() as whole:
        whole.setattr(scoped, "destination_lookup", lambda *_: None)
        read_whole = await plan_between(hr, sql.connection(), the_job, [asked])
    assert outcome(looked_up) == outcome(read_whole)
    assert looked_up.plan.warnings == read_whole.plan.warnings
    assert looked_up.plan.changes == []
    assert looked_up.plan.counts.skipped == 1
    assert (looked_up.destination_records, read_whole.destination_records) == (2, 3)


LATIN1 = " ENCODING 'LATIN1' LC_COLLATE 'C' LC_CTYPE 'C' TEMPLATE template0"


@pytest.fixture
def pg_latin1(postgresql: Postgresql, tmp_path: Path) -> Iterator[Sql]:
    """A PostgreSQL destination in a database of its own whose encoding is LATIN1."""
    s = postgresql

    def run(sql: str) -> str:
        return s.psql(sql + LATIN1 if sql.startswith("CREATE") else sql)

    for server in own_database(
        run, lambda name: Postgresql(s.host, s.port, s.user, s.password, name), '"', " WITH (FORCE)"
    ):
        yield Sql("postgresql", tmp_path, server)


async def test_a_postgresql_database_not_in_utf8_is_read_whole(
    pg_latin1: Sql, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Its keys cannot be tested as a run compares them (keyforms.py): no lookup, the
    key held twice found by the whole read."""
    table = await pg_latin1.table(None, [("e1", "Ada"), ("e2", "Old"), ("\u00a0e2", "Older")])
    the_job = job(KEYED, Endpoint(connection="dir", table=table))
    hr = source(tmp_path, E2_CHANGED)
    run = await plan_between(hr, pg_latin1.connection(), the_job, ["e2"])
    assert (run.plan.changes, run.plan.counts.skipped, run.destination_records) == ([], 1, 3)


async def test_a_mariadb_key_column_in_utf16_is_read_whole(
    my_module: MariaDb, tmp_path: Path
) -> None:
    """Its keys' bytes are not tested as UTF-8's are: no lookup, the key held twice
    found by the whole read."""
    sql = Sql("mariadb", tmp_path, my_module)
    rows = [("e1", "Ada"), ("e2", "Old"), ("e2\t", "Older")]
    table = await sql.table("VARCHAR(64) CHARACTER SET utf16", rows)
    the_job = job(KEYED, Endpoint(connection="dir", table=table))
    run = await plan_between(source(tmp_path, E2_CHANGED), sql.connection(), the_job, ["e2"])
    assert (run.plan.changes, run.plan.counts.skipped, run.destination_records) == ([], 1, 3)


@pytest.mark.parametrize("twice", ["a space after it", "decomposed"])
async def test_a_key_scoped_run_finds_a_source_key_held_twice_in_two_spellings(
    sql: Sql, twice: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A SQL source is looked up as a destination is: two records of one key are found
    and refused as when the source is read whole."""
    asked, other = ("e2", "e2 ") if twice == "a space after it" else (NFC, NFD)
    table = await sql.table(None, [("e1", "Ada"), (asked, "Grace"), (other, "Grace too")])
    the_job = Job(
        id="scoped",
        source=Endpoint(connection="dir", table=table),
        destination=Endpoint(connection="out", table="people"),
        objects=[ObjectMapping(keys=["id"], fields=[FieldMap(to="id"), FieldMap(to="name")])],
    )
    out = SqliteConnection(id="out", path=str(tmp_path / "out.db"))

    async def refusal() -> str:
        with pytest.raises(DuplicateKey) as refused:
            await plan_between(sql.connection(), out, the_job, [asked])
        return str(refused.value)

    looked_up = await refusal()
    with monkeypatch.context() as whole:
        whole.setattr(scoped, "source_lookup", lambda *_: None)
        assert await refusal() == looked_up


NEW_AMONG_MANY = Case(
    [("e2", "Grace", CHANGED), ("e98", "New", CHANGED), (" e99", "Newer", CHANGED)],
    [(f"e{n}", f"Person {n}") for n in range(1, 60)],
    ["create  e99", "create e98", "update e2"],  # a key is shown as its record spells it
)


async def test_a_new_record_is_created_with_only_the_found_objects_read(
    sql: Sql, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, lean: bool
) -> None:
    """A key the lookup does not find is held by no object: the incremental run plans its
    create as a whole read does, having read only the one object found of 59."""
    c = NEW_AMONG_MANY
    table = await sql.table(None, c.rows)
    the_job = job(c.mapping, Endpoint(connection="dir", table=table))
    both = await both_ways(source(tmp_path, c.people), sql.connection(), the_job, monkeypatch, lean)
    both.agree()
    assert both.actions() == c.actions(sql.kind)
    assert both.run is not None and both.run.destination_records == 1


@pytest.mark.parametrize("key_type", ["integer", "date"])
async def test_a_typed_key_column_a_lookup_misses_in_is_read_whole(
    sql: Sql, key_type: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """In PostgreSQL and MySQL a typed column compares as its type, whose text a whole read
    may spell otherwise: a key it misses is not taken as absent, the table is read whole
    (SQLite asks for every spelling whatever the column's type)."""
    values = ["7", "8"] if key_type == "integer" else ["2026-01-02", "2026-01-03"]
    rows = [(values[0], "Ada"), ("9" if key_type == "integer" else "2026-01-09", "Bob")]
    table = await sql.table(key_type, rows)
    the_job = job(KEYED, Endpoint(connection="dir", table=table))
    people = [(values[0], "Ada Changed", CHANGED), (values[1], "New", CHANGED)]
    both = await both_ways(source(tmp_path, people), sql.connection(), the_job, monkeypatch, False)
    both.agree()
    assert both.actions() == [f"create {values[1]}", f"update {values[0]}"]
    assert both.run is not None
    assert both.run.destination_records == (1 if sql.kind == "sqlite" else 2)
