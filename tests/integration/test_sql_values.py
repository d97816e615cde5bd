"""Values written to and read from a PostgreSQL or MariaDB table as the column holds them:
JSON numbers, decimals, fractions of a second, single floats, text columns NOT NULL; a
batch whose changes need each other's rows; and a table or column the login may not make,
refused before planning."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import pytest

from core.errors import WriteFailed
from schemas.connections import MysqlConnection, PostgresqlConnection
from schemas.jobs import Endpoint
from schemas.plan import Change
from schemas.values import Binary, Record
from services.providers import open_provider
from services.providers.base import Layout, Provider
from tests.sql_servers import SqlProvider, opened, password_file, read_all, sql_connection

LAYOUT = Layout(keys=("id",))
PROVIDERS = pytest.mark.parametrize("provider", ["postgresql", "mysql"])


def server_of(
    provider: SqlProvider, request: pytest.FixtureRequest
) -> tuple[Any, Callable[[str], str]]:
    """The test's own database on the provider's server, and how to run SQL there."""
    server = request.getfixturevalue("pg_database" if provider == "postgresql" else "my_database")
    run_sql: Callable[[str], str] = server.psql if provider == "postgresql" else server.sql
    return server, run_sql


@asynccontextmanager
async def table_side(
    provider: SqlProvider,
    request: pytest.FixtureRequest,
    tmp_path: Path,
    table: str,
    setup: str,
    layout: Layout = LAYOUT,
) -> AsyncIterator[Provider]:
    """The side writing `table` of the test's own database, `setup` run there first;
    closed on the way out."""
    server, run_sql = server_of(provider, request)
    run_sql(setup)
    connection = sql_connection(provider, server, tmp_path, "db")
    side = await opened(connection, Endpoint(connection="db", table=table), layout, write=True)
    try:
        yield side
    finally:
        await side.close()


def create(key: str, **values: str) -> Change:
    return Change(action="create", key=key, match={"id": key}, set={"id": key, **values})


BIG = "1" + "0" * 400
JSON: dict[SqlProvider, tuple[str, list[Record], str, str]] = {
    # jsonb keeps a number's digits (numeric): read through a float, an amount of
    # 12345678901234567.89 was copied as 12345678901234568 and 1e400 as "Infinity"; and a
    # source's 1e2 (another server's JSON) planned an update of the 100 read back on every run.
    "postgresql": (
        "CREATE TABLE j (id integer PRIMARY KEY, extra jsonb);"
        """INSERT INTO j VALUES (1,"""
        """ '{"amount": 12345678901234567.89, "rate": 0.10000000000000000001}'),"""
        """ (2, '{"big": 1e400, "n": 100, "x": 2.50}');""",
        [
            {"id": "1", "extra": '{"amount":12345678901234567.89,"rate":0.10000000000000000001}'},
            {"id": "2", "extra": f'{{"big":{BIG},"n":100,"x":2.5}}'},
        ],
        '{"x": 2.5e0, "n": 1e2, "big": 1E+400}',
        f'{{"big":{BIG},"n":100,"x":2.5}}',
    ),
    # MariaDB's JSON is text: read through a float, an amount of 12345678901234567.89 was
    # copied as 1.2345678901234568e+16, and 1e2 read as 100.0 where another server's JSON
    # reads 100 — an update planned on every run of a job between them.
    "mysql": (
        "CREATE TABLE j (id int PRIMARY KEY, extra json);"
        """INSERT INTO j VALUES (1, '{"amount": 12345678901234567.89, "big": 1e400}'),"""
        """ (2, '{"n": 1e2, "x": 2.50, "tiny": 1e-7}');""",
        [
            {"id": "1", "extra": f'{{"amount":12345678901234567.89,"big":{BIG}}}'},
            {"id": "2", "extra": '{"n":100,"tiny":1e-07,"x":2.5}'},
        ],
        '{"x": 2.5, "n": 100, "tiny": 0.0000001}',
        '{"n":100,"tiny":1e-07,"x":2.5}',
    ),
}


@PROVIDERS
async def test_json_numbers_keep_every_digit_and_compare_by_their_value(
    provider: SqlProvider, request: pytest.FixtureRequest, tmp_path: Path
) -> None:
    setup, rows, source, canonical = JSON[provider]
    async with table_side(provider, request, tmp_path, "j", setup) as table:
        assert await read_all(table) == rows
        assert table.canonical({"id": "2", "extra": source}) == {"id": "2", "extra": canonical}


@PROVIDERS
async def test_a_number_the_decimal_column_would_round_fails_its_record(
    provider: SqlProvider, request: pytest.FixtureRequest, tmp_path: Path
) -> None:
    """A decimal(10,2) column rounds 99.999 to 100.00 without an error (MariaDB in strict
    mode too, with a note): the plan compared 100.00 with 100.00 and said nothing, or the
    run stored another number than the source's. It fails its record, naming it."""
    decimal = {"postgresql": "numeric(10,2)", "mysql": "decimal(10,2)"}[provider]
    setup = (
        f"CREATE TABLE pay (id int PRIMARY KEY, amount {decimal});"
        "INSERT INTO pay VALUES (1, 100.00), (2, 5.00);"
    )
    async with table_side(provider, request, tmp_path, "pay", setup) as table:
        assert table.canonical({"id": "1", "amount": "99.999"})["amount"] == "99.999"
        assert table.canonical({"id": "2", "amount": "7.5000"})["amount"] == "7.50"

        def update(key: str, amount: str) -> Change:
            return Change(action="update", key=key, match={"id": key}, set={"amount": amount})

        outcomes = await table.apply([update("1", "99.999"), update("2", "7.5000")])
        assert outcomes[0].error is not None
        assert "amount: '99.999' has more than 2 digits after the point" in outcomes[0].error
        assert outcomes[1].error is None
        rows = {str(r["id"]): r["amount"] for r in await read_all(table)}
        assert rows == {"1": "100.00", "2": "7.50"}


@PROVIDERS
async def test_a_number_with_a_fraction_fails_its_record_in_an_integer_column(
    provider: SqlProvider, request: pytest.FixtureRequest, tmp_path: Path
) -> None:
    """MariaDB, in strict mode too, rounds 4.5 to 5 in an INT column without an error (and
    takes 4.0 and 1e2 as 4 and 100, which the plan compared as other numbers than the
    ones read back, on every run); PostgreSQL refuses them. A fraction fails its record,
    naming the value, in both; a whole number spelled so compares as the number."""
    setup = "CREATE TABLE counts (id varchar(20) PRIMARY KEY, seats int);"
    layout = Layout(keys=("id",), fields=("id", "seats"))
    async with table_side(provider, request, tmp_path, "counts", setup, layout) as table:
        first = await table.apply([create("a", seats="4.5"), create("b", seats="3")])
        then = await table.apply(
            [Change(action="update", key="b", match={"id": "b"}, set={"seats": "1.4"})]
        )
        for outcome, given in ((first[0], "4.5"), (then[0], "1.4")):
            assert outcome.error is not None
            assert f"seats: '{given}' has digits after the point" in outcome.error
        assert first[1].error is None
        assert await read_all(table) == [{"id": "b", "seats": "3"}]
        if provider == "mysql":  # which takes them, where PostgreSQL refuses them
            whole = await table.apply([create("c", seats="4.0"), create("d", seats="1e2")])
            assert [o.error for o in whole] == [None, None]
            stored = {str(r["id"]): r for r in await read_all(table)}
            for key, seats in (("c", "4.0"), ("d", "1e2")):
                assert table.canonical({"id": key, "seats": seats}) == stored[key]


@PROVIDERS
async def test_a_negative_zero_compares_as_the_zero_the_decimal_column_holds(
    provider: SqlProvider, request: pytest.FixtureRequest, tmp_path: Path
) -> None:
    """A decimal holds no negative zero: "-0.00" (a balance a source computed) read back as
    0.00, and the plan updated it on every run."""
    decimal = {"postgresql": "numeric", "mysql": "decimal(10,2)"}[provider]
    setup = f"CREATE TABLE pay (id varchar(20) PRIMARY KEY, amount {decimal}, due {decimal});"
    layout = Layout(keys=("id",), fields=("id", "amount", "due"))
    async with table_side(provider, request, tmp_path, "pay", setup, layout) as table:
        source: Record = {"id": "a", "amount": "-0.00", "due": "-0"}
        assert [o.error for o in await table.apply([create("a", **source)])] == [None]  # type: ignore[arg-type]
        assert await read_all(table) == [table.canonical(source)]


async def test_a_two_digit_year_compares_as_the_year_column_holds_it(
    request: pytest.FixtureRequest, tmp_path: Path
) -> None:
    """A MariaDB YEAR column holds 26 as 2026 and 99 as 1999: kept as given, the value
    read back differed, and the plan updated it on every run."""
    setup = "CREATE TABLE y (id varchar(20) PRIMARY KEY, since year);"
    layout = Layout(keys=("id",), fields=("id", "since"))
    async with table_side("mysql", request, tmp_path, "y", setup, layout) as table:
        sources: list[Record] = [
            {"id": "a", "since": "26"},
            {"id": "b", "since": "99"},
            {"id": "c", "since": "2031"},
            {"id": "d", "since": "0"},
        ]
        made = [create(str(s["id"]), since=str(s["since"])) for s in sources]
        assert [o.error for o in await table.apply(made)] == [None] * 4
        stored = {str(r["id"]): r for r in await read_all(table)}
        assert [table.canonical(s) for s in sources] == [stored[str(s["id"])] for s in sources]
        assert [stored[k]["since"] for k in "abc"] == ["2026", "1999", "2031"]


async def test_binary_data_compares_as_the_fixed_width_column_pads_it(
    request: pytest.FixtureRequest, tmp_path: Path
) -> None:
    """A MariaDB BINARY(n) column pads its values with zero bytes to n: kept as given,
    the value read back differed, and the plan updated it on every run."""
    setup = "CREATE TABLE b (id varchar(20) PRIMARY KEY, tag binary(4), code varbinary(4));"
    layout = Layout(keys=("id",), fields=("id", "tag", "code"))
    async with table_side("mysql", request, tmp_path, "b", setup, layout) as table:
        sources: list[Record] = [
            {"id": "a", "tag": Binary(b"ab"), "code": Binary(b"ab")},
            {"id": "b", "tag": "xy", "code": "xy"},
            {"id": "c", "tag": Binary(b"abcd")},
        ]
        made = [
            Change(action="create", key=str(s["id"]), match={"id": s["id"]}, set=s) for s in sources
        ]
        assert [o.error for o in await table.apply(made)] == [None] * 3
        stored = {str(r["id"]): r for r in await read_all(table)}
        assert [table.canonical(s) for s in sources] == [stored[str(s["id"])] for s in sources]
        assert stored["a"]["tag"] == Binary(b"ab\0\0") and stored["a"]["code"] == Binary(b"ab")


async def test_a_boolean_spelled_as_postgresql_reads_one_compares_as_it_holds_it(
    request: pytest.FixtureRequest, tmp_path: Path
) -> None:
    """PostgreSQL takes any start of "true", "false", "yes" and "no" (and "of" for "off")
    for a boolean: kept as given, "tr" differed from the "true" read back, and the plan
    updated it on every run."""
    setup = "CREATE TABLE f (id varchar(20) PRIMARY KEY, active boolean);"
    layout = Layout(keys=("id",), fields=("id", "active"))
    async with table_side("postgresql", request, tmp_path, "f", setup, layout) as table:
        spellings = ["tr", "FALS", "ye", "of", " N ", "true", "0"]
        sources: list[Record] = [{"id": str(n), "active": s} for n, s in enumerate(spellings)]
        made = [create(str(n), active=s) for n, s in enumerate(spellings)]
        assert [o.error for o in await table.apply(made)] == [None] * len(spellings)
        stored = {str(r["id"]): r for r in await read_all(table)}
        assert [table.canonical(s) for s in sources] == [stored[str(n)] for n in range(7)]
        assert [stored[str(n)]["active"] for n in range(4)] == ["true", "false", "true", "false"]
        refused = await table.apply([create("o", active="o")])  # "on" or "off": either
        assert refused[0].error is not None


async def test_a_negative_zero_compares_as_the_zero_a_mysql_float_column_holds(
    request: pytest.FixtureRequest, tmp_path: Path
) -> None:
    """MariaDB keeps no negative zero in a DOUBLE or FLOAT: "-0" read back as 0.0, and the
    plan updated it on every run. (PostgreSQL keeps -0: compared as it is.)"""
    setup = "CREATE TABLE z (id varchar(20) PRIMARY KEY, x double, r float);"
    layout = Layout(keys=("id",), fields=("id", "x", "r"))
    async with table_side("mysql", request, tmp_path, "z", setup, layout) as table:
        sources: list[Record] = [{"id": "a", "x": "-0", "r": "-0.0"}, {"id": "b", "x": "-0.000"}]
        made = [
            create(str(s["id"]), **{k: str(v) for k, v in s.items() if k != "id"}) for s in sources
        ]
        assert [o.error for o in await table.apply(made)] == [None, None]
        stored = {str(r["id"]): r for r in await read_all(table)}
        assert [table.canonical(s) for s in sources] == [stored["a"], stored["b"]]


@PROVIDERS
async def test_a_decimal_of_more_than_28_digits_compares_and_writes_as_any_other(
    provider: SqlProvider, request: pytest.FixtureRequest, tmp_path: Path
) -> None:
    """A numeric(38,10) or decimal(38,0) holds numbers of more digits than Python's decimal
    arithmetic keeps by default (28): such a value failed its record on every run ("has
    more than 10 digits after the point"), though it had none to round."""
    decimal = {"postgresql": "numeric", "mysql": "decimal"}[provider]
    setup = f"CREATE TABLE wide (id int PRIMARY KEY, amount {decimal}(38,10), ref {decimal}(38,0));"
    layout = Layout(keys=("id",), fields=("id", "amount", "ref"))
    async with table_side(provider, request, tmp_path, "wide", setup, layout) as table:
        amount, ref = "12345678901234567890.5", "12345678901234567890123456789012345678"
        made: Record = {"id": "1", "amount": amount, "ref": ref}
        as_stored = {"id": "1", "amount": "12345678901234567890.5000000000", "ref": ref}
        assert table.canonical(made) == as_stored
        assert [o.error for o in await table.apply([create("1", amount=amount, ref=ref)])] == [None]
        assert await read_all(table) == [as_stored]
        rounded = table.canonical({"id": "1", "amount": "0.12345678901"})
        assert rounded["amount"] == "0.12345678901", "one digit too many: refused, not rounded"


async def test_a_postgresql_timestamptz_at_infinity_reads_in_utc_as_any_other(
    request: pytest.FixtureRequest, tmp_path: Path
) -> None:
    """The driver gives a timestamptz 'infinity' as the last moment Python holds, without
    its zone: it read "9999-12-31T23:59:59.999999" where every other value of the column
    reads with its "Z" — a PostgreSQL table holding it was written again by every run."""
    setup = (
        "CREATE TABLE ends (id int PRIMARY KEY, until timestamptz);"
        "INSERT INTO ends VALUES (1, 'infinity'), (2, '-infinity'), (3, '2026-01-02 03:04:05+00');"
    )
    async with table_side("postgresql", request, tmp_path, "ends", setup) as table:
        rows = sorted(await read_all(table), key=lambda r: str(r["id"]))
        assert [r["until"] for r in rows] == [
            "9999-12-31T23:59:59.999999Z",
            "0001-01-01T00:00:00Z",
            "2026-01-02T03:04:05Z",
        ]
        assert [table.canonical(r) for r in rows] == rows, "a re-run finds them unchanged"


STAMPS = {
    # A timestamp(0) rounds 04:23:16.820588 to 04:23:17.
    "postgresql": "CREATE TABLE stamps (id int PRIMARY KEY, seen timestamp(0),"
    " stamp timestamptz(0), fine timestamp(3), starts time(0));",
    # A DATETIME or TIMESTAMP without fractional seconds stores 04:23:16.820588 as
    # 04:23:16 (MySQL 8 rounds it to 04:23:17).
    "mysql": "CREATE TABLE stamps (id int PRIMARY KEY, seen datetime, stamp timestamp NULL,"
    " fine datetime(3), starts time);",
}
STAMPED: dict[SqlProvider, Record] = {
    "mysql": {
        "id": "1",
        "seen": "2026-12-07T04:23:16",
        "stamp": "2026-12-07T04:23:16Z",
        "fine": "2026-12-07T04:23:16.820000",
        "starts": "08:30:00",
    },
}


@PROVIDERS
async def test_a_date_time_keeps_the_fraction_of_a_second_its_column_holds(
    provider: SqlProvider, request: pytest.FixtureRequest, tmp_path: Path
) -> None:
    """A date-time column without (all) the fraction of a second stores 04:23:16.820588
    otherwise: compared with the source's microseconds, every run planned the same update
    again."""
    async with table_side(provider, request, tmp_path, "stamps", STAMPS[provider]) as table:
        source: Record = {
            "id": "1",
            "seen": "2026-12-07T04:23:16.820588",
            "stamp": "2026-12-07T04:23:16.820588Z",
            "fine": "2026-12-07T04:23:16.820588",
            "starts": "08:30:00.5",
        }
        if provider in STAMPED:
            assert table.canonical(source) == STAMPED[provider]
        made = Change(action="create", key="1", match={"id": "1"}, set=dict(source))
        assert [o.error for o in await table.apply([made])] == [None]
        [stored] = await read_all(table)
        assert table.canonical(source) == stored
        if provider in STAMPED:
            assert stored == STAMPED[provider]


SPELLED = "CREATE TABLE spelled (id int PRIMARY KEY, born date, seen {stamp}, opens time);"
STAMP = {"postgresql": "timestamp", "mysql": "datetime(6)"}


@PROVIDERS
async def test_dates_and_times_spelled_otherwise_compare_as_the_column_holds_them(
    provider: SqlProvider, request: pytest.FixtureRequest, tmp_path: Path
) -> None:
    """Both servers take a date given as a date-time at midnight (another database's
    DATETIME, a spreadsheet's "2026-01-02 00:00:00"), a date or an hour of one digit, and
    round a fraction of a second finer than a microsecond: kept as given, each compared
    unequal with the value read back, an update planned on every run."""
    setup = SPELLED.format(stamp=STAMP[provider])
    layout = Layout(keys=("id",), fields=("id", "born", "seen", "opens"))
    async with table_side(provider, request, tmp_path, "spelled", setup, layout) as table:
        spellings: list[Record] = [
            {"born": "2026-01-02 00:00:00", "seen": "2026-01-02T03:04:05.1234567", "opens": "9:00"},
            {"born": "2026-01-02T00:00:00Z", "seen": "2026-01-02 03:04:05.9999996"},
            {"born": "2026-1-2", "opens": "09:00:00.0000004"},
        ]
        made = [create(str(n), **values) for n, values in enumerate(spellings)]  # type: ignore[arg-type]
        assert [o.error for o in await table.apply(made)] == [None] * 3
        stored = {str(r["id"]): r for r in await read_all(table)}
        for n, values in enumerate(spellings):
            assert table.canonical({"id": str(n), **values}) == stored[str(n)]
        assert stored["0"] == {
            "id": "0",
            "born": "2026-01-02",
            "seen": "2026-01-02T03:04:05.123457",
            "opens": "09:00:00",
        }
        assert stored["1"]["seen"] == "2026-01-02T03:04:06"


@PROVIDERS
async def test_a_date_time_with_a_time_of_day_fails_its_record_in_a_date_column(
    provider: SqlProvider, request: pytest.FixtureRequest, tmp_path: Path
) -> None:
    """Both servers keep the date alone, without a word (MariaDB in strict mode too: a
    note): the time of day was lost, and the record planned again on every run."""
    setup = SPELLED.format(stamp=STAMP[provider])
    layout = Layout(keys=("id",), fields=("id", "born"))
    async with table_side(provider, request, tmp_path, "spelled", setup, layout) as table:
        made = [create("1", born="2026-01-02 10:30:00"), create("2", born="2026-01-03")]
        update = Change(
            action="update", key="2", match={"id": "2"}, set={"born": "2026-01-04T08:00:00"}
        )
        first = await table.apply(made)
        then = await table.apply([update])
        for outcome in (first[0], then[0]):
            assert outcome.error is not None
            assert "born: " in outcome.error and "has a time of day" in outcome.error
        assert first[1].error is None
        assert await read_all(table) == [{"id": "2", "born": "2026-01-03"}]


@PROVIDERS
async def test_a_create_without_a_value_in_a_not_null_text_column_writes_empty_text(
    provider: SqlProvider, request: pytest.FixtureRequest, tmp_path: Path
) -> None:
    """No value is written as empty text in a text column NOT NULL — by a create too: a
    record without an address was refused on every run (NULL, the column without a
    default), or given the column's default, which the next run cleared."""
    setup = (
        "CREATE TABLE nn (id int PRIMARY KEY, address text NOT NULL,"
        " note varchar(20) NOT NULL DEFAULT 'n/a', age int);"
    )
    layout = Layout(keys=("id",), fields=("id", "address", "note", "age"))
    async with table_side(provider, request, tmp_path, "nn", setup, layout) as table:
        first = [create("1", age="40"), create("2", age="50")]  # a first run's batch
        assert [o.error for o in await table.apply(first)] == [None, None]
        mixed = [create("3"), create("4", address="", note="Cy"), create("5", address="Rue")]
        assert [o.error for o in await table.apply(mixed)] == [None, None, None]
        rows = sorted(await read_all(table), key=lambda r: int(str(r["id"])))
        assert rows == [
            {"id": "1", "age": "40"},
            {"id": "2", "age": "50"},
            {"id": "3"},
            {"id": "4", "note": "Cy"},
            {"id": "5", "address": "Rue"},
        ]


@PROVIDERS
async def test_a_value_cleared_in_a_not_null_text_column_becomes_empty_text(
    provider: SqlProvider, request: pytest.FixtureRequest, tmp_path: Path
) -> None:
    """No value is empty text or NULL alike; a text column NOT NULL DEFAULT '' holds only
    the first, and a source clearing a value (an address removed) wrote NULL: the row
    was refused on every run."""
    text = {"postgresql": "text", "mysql": "varchar(100)"}[provider]
    setup = (
        f"CREATE TABLE nn (id int PRIMARY KEY, address {text} NOT NULL DEFAULT '',"
        f" note {text} NOT NULL DEFAULT '', age int);"
        "INSERT INTO nn VALUES (4, '156 av. de Malakof', 'kept', 40), (5, 'x', 'y', 50);"
    )
    async with table_side(provider, request, tmp_path, "nn", setup) as table:
        emptied = Change(action="update", key="4", match={"id": "4"}, set={"address": ""})
        cleared = Change(
            action="update", key="5", match={"id": "5"}, set={}, clear=("address", "note")
        )
        assert [o.error for o in await table.apply([emptied, cleared])] == [None, None]
        assert await read_all(table) == [
            {"id": "4", "note": "kept", "age": "40"},  # empty text: no value
            {"id": "5", "age": "50"},
        ]


SINGLE = {
    # real: 34346.18 reads back as 34346.1796875; 0.1 is read as the single, exactly.
    "postgresql": ("real", "0.10000000149011612"),
    # float: the same, read as a DOUBLE (sent as text, a FLOAT has six digits: 34346.2).
    "mysql": ("float", "0.10000000149011612"),
}


@PROVIDERS
async def test_a_single_precision_float_compares_as_the_column_keeps_it(
    provider: SqlProvider, request: pytest.FixtureRequest, tmp_path: Path
) -> None:
    """A single float keeps about seven digits: a source's 34346.18 (or a double's
    3.14159265) planned the same update on every run."""
    column, tenth = SINGLE[provider]
    setup = f"CREATE TABLE scores (id int PRIMARY KEY, score {column});"
    async with table_side(provider, request, tmp_path, "scores", setup) as table:
        values = ["34346.18", "3.14159265", "1234567", "0.1", "-2.5e-7"]
        sources: list[Record] = [{"id": str(i), "score": v} for i, v in enumerate(values)]
        creates = [create(str(r["id"]), score=str(r["score"])) for r in sources]
        assert [o.error for o in await table.apply(creates)] == [None] * len(values)
        stored = sorted(await read_all(table), key=lambda r: int(str(r["id"])))
        assert [table.canonical(r) for r in sources] == stored
        assert stored[3]["score"] == tenth


PEOPLE = {
    "postgresql": "CREATE TABLE people (id text PRIMARY KEY, name text, boss text"
    " REFERENCES people(id)",
    "mysql": "CREATE TABLE people (id varchar(10) PRIMARY KEY, name varchar(10),"
    " boss varchar(10), FOREIGN KEY (boss) REFERENCES people(id)",
}


@pytest.mark.parametrize(
    ("provider", "deferred"),
    [
        pytest.param("postgresql", False, id="postgresql-checked"),
        pytest.param("postgresql", True, id="postgresql-deferred"),
        pytest.param("mysql", False, id="mysql"),
    ],
)
async def test_changes_of_a_batch_that_need_each_others_rows_go_in_whatever_their_groups(
    provider: SqlProvider, deferred: bool, request: pytest.FixtureRequest, tmp_path: Path
) -> None:
    """A batch applies its alike changes together, not in the plan's order: u1 managed by
    u9, created in the same batch but with other fields, was refused for a manager not
    there yet (and u7 deleted before the update that stops u3 naming it)."""
    setup = (
        PEOPLE[provider] + (" DEFERRABLE INITIALLY DEFERRED" if deferred else "") + ");"
        "INSERT INTO people VALUES ('u2', 'Bob', NULL), ('u7', 'Sam', NULL), ('u3', 'Cy', 'u7');"
    )
    async with table_side(provider, request, tmp_path, "people", setup) as table:
        changes = [
            create("u5", name="Eve", boss="u2"),
            Change(action="delete", key="u8", match={"id": "u8"}),
            create("u9", name="Nia"),
            Change(action="update", key="u3", match={"id": "u3"}, set={}, clear=("boss",)),
            create("u1", name="Ada", boss="u9"),
            create("u4", name="Kim", boss="u6"),  # no u6: refused
            Change(action="delete", key="u7", match={"id": "u7"}),
        ]
        changes[1], changes[6] = changes[6], changes[1]  # u7 deleted with u8, before u3's update
        errors = [o.error for o in await table.apply(changes)]
        assert [e is None for e in errors] == [True] * 5 + [False, True], errors
        assert sorted(await read_all(table), key=lambda r: str(r["id"])) == [
            {"id": "u1", "name": "Ada", "boss": "u9"},
            {"id": "u2", "name": "Bob"},
            {"id": "u3", "name": "Cy"},
            {"id": "u5", "name": "Eve", "boss": "u2"},
            {"id": "u9", "name": "Nia"},
        ]


def login(
    provider: SqlProvider, request: pytest.FixtureRequest, tmp_path: Path, user: str, setup: str
) -> PostgresqlConnection | MysqlConnection:
    """A connection as `user`, a login (password `<user>-pw`) that `setup` makes; `{db}` in
    `setup` is the test's database."""
    server, run_sql = server_of(provider, request)
    run_sql(setup.format(db=server.database))
    connection = sql_connection(provider, server, tmp_path, "db", user)  # the password file
    password_file(provider, server, tmp_path).write_text(f"{user}-pw\n")
    return connection


def dropped(provider: SqlProvider, request: pytest.FixtureRequest, user: str) -> None:
    """The login `user` made by the test gone."""
    _, run_sql = server_of(provider, request)
    if provider == "postgresql":
        run_sql(f"DROP OWNED BY {user}; DROP ROLE {user};")
    else:
        run_sql(f"DROP USER '{user}'@'%'")


NOT_CREATING = {
    # A login without CREATE on the schema ("permission denied for schema public").
    "postgresql": (
        "CREATE ROLE reader LOGIN PASSWORD 'reader-pw';REVOKE CREATE ON SCHEMA public FROM PUBLIC;",
        "'staff' does not exist, and 'reader' may not create it: GRANT CREATE ON",
    ),
    # A login without CREATE on the database ("CREATE command denied").
    "mysql": (
        "CREATE TABLE people (id int PRIMARY KEY);"
        "CREATE USER 'reader'@'%' IDENTIFIED BY 'reader-pw';"
        "GRANT SELECT ON `{db}`.people TO 'reader'@'%';",
        "'staff' does not exist, and 'reader' may not create it: GRANT CREATE",
    ),
}


@PROVIDERS
async def test_a_table_to_make_that_the_login_may_not_create_is_refused_before_planning(
    provider: SqlProvider, request: pytest.FixtureRequest, tmp_path: Path
) -> None:
    """A destination table that does not exist is made by the first write: a login that
    may not create it planned every create, and the run then failed at its first batch."""
    setup, refused = NOT_CREATING[provider]
    reader = login(provider, request, tmp_path, "reader", setup)
    table = open_provider(reader, Endpoint(connection="db", table="staff"), LAYOUT)
    sides = [table]
    try:
        with pytest.raises(WriteFailed, match=refused):
            await table.open(write=True)
        if provider == "postgresql":  # a schema not there either
            elsewhere = open_provider(reader, Endpoint(connection="db", table="hr.staff"), LAYOUT)
            sides.append(elsewhere)
            with pytest.raises(WriteFailed, match=r"'hr\.staff' does not exist, nor its schema hr"):
                await elsewhere.open(write=True)
    finally:
        for side in sides:
            await side.close()
        dropped(provider, request, "reader")


NOT_ALTERING = {
    # Only the table's owner may add a column ("must be owner of table people").
    "postgresql": "CREATE TABLE people (id text PRIMARY KEY, mail text);"
    "CREATE ROLE writer LOGIN PASSWORD 'writer-pw';"
    "GRANT SELECT, INSERT, UPDATE, DELETE ON people TO writer;",
    # Adding a column needs ALTER.
    "mysql": "CREATE TABLE people (id varchar(20) PRIMARY KEY, mail text);"
    "CREATE USER 'writer'@'%' IDENTIFIED BY 'writer-pw';"
    "GRANT SELECT ON `{db}`.people TO 'writer'@'%';"
    "GRANT INSERT, UPDATE, DELETE ON `{db}`.people TO 'writer'@'%';",
}


@PROVIDERS
async def test_a_field_the_table_lacks_that_the_login_may_not_add_is_refused_before_planning(
    provider: SqlProvider, request: pytest.FixtureRequest, tmp_path: Path
) -> None:
    """A field the table lacks becomes a column at the first write, which the login may
    not add: every change was planned, then the run failed at its first batch."""
    writer = login(provider, request, tmp_path, "writer", NOT_ALTERING[provider])
    endpoint = Endpoint(connection="db", table="people")
    lacking = open_provider(writer, endpoint, Layout(keys=("id",), fields=("id", "phone")))
    fitting = open_provider(writer, endpoint, Layout(keys=("id",), fields=("id", "mail")))
    try:
        with pytest.raises(WriteFailed, match="has no column phone, and 'writer' may not add"):
            await lacking.open(write=True)
        await fitting.open(write=True)
    finally:
        await lacking.close()
        await fitting.close()
        dropped(provider, request, "writer")
