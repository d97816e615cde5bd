"""The PostgreSQL provider on a real server: typed columns as canonical text, a job's
SELECT as a source, a rejected row failing alone, and errors that name what to fix."""

from __future__ import annotations

from pathlib import Path
from typing import cast

import pytest

from core.checks.connections import check_connections
from core.errors import BadInput, WriteFailed
from schemas.connections import MysqlConnection, PostgresqlConnection
from schemas.jobs import Endpoint, FieldMap, ObjectMapping
from schemas.plan import Change
from schemas.values import Binary, Record
from services.providers import FACTS, check_reachable, open_provider
from services.providers.base import ChangeReader, FallsBack, Layout, Provider
from services.runner.planning.low_memory import READ_TWICE, lean_enough
from services.runner.planning.sides import Sides
from tests.postgresql_server import Server
from tests.sql_servers import jobs_writing, password_file, read_all, sql_connection
from tests.sql_servers import opened as opened_side

TYPED = """
CREATE TABLE typed (
  id integer PRIMARY KEY, amount numeric(10,2), active boolean, born date,
  seen timestamptz, token uuid, extra jsonb, photo bytea, tags text[], score float8,
  mail text UNIQUE, code char(6)
);
INSERT INTO typed VALUES (7, 12.5, true, '1990-02-03', '2026-01-02 03:04:05+01',
  'A0EEBC99-9C0B-4EF8-BB6D-6BB9BD380A11', '{"b": 1, "a": [true, null]}', '\\x0102',
  '{staff,vpn}', 0.5, 'ann@example.org', 'AB');
"""
LAYOUT = Layout(keys=("id",))


def connection(
    server: Server, folder: Path, user: str | None = None
) -> PostgresqlConnection | MysqlConnection:
    return sql_connection("postgresql", server, folder, "pg", user)


async def opened(
    server: Server, folder: Path, endpoint: Endpoint, *, write: bool = False
) -> Provider:
    return await opened_side(connection(server, folder), endpoint, LAYOUT, write=write)


async def test_typed_columns_read_as_canonical_text_and_a_source_spelling_compares_equal(
    pg_database: Server, tmp_path: Path
) -> None:
    pg_database.psql(TYPED)
    table = await opened(
        pg_database, tmp_path, Endpoint(connection="pg", table="typed"), write=True
    )
    expected: Record = {
        "id": "7",
        "amount": "12.50",
        "active": "true",
        "born": "1990-02-03",
        "seen": "2026-01-02T02:04:05Z",
        "token": "a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11",
        "extra": '{"a":[true,null],"b":1}',
        "photo": Binary(b"\x01\x02"),
        "tags": ["staff", "vpn"],
        "score": "0.5",
        "mail": "ann@example.org",
        "code": "AB    ",  # char(n): read padded to n
    }
    try:
        assert await read_all(table) == [expected]
        # What a CSV source would say for the same row plans as unchanged.
        source: Record = {
            "id": "007",
            "amount": "12.5",
            "active": "yes",
            "born": "1990-02-03",
            "seen": "2026-01-02 03:04:05+01:00",
            "token": "A0EEBC99-9C0B-4EF8-BB6D-6BB9BD380A11",
            "extra": '{"b": 1, "a": [true, null]}',
            "photo": Binary(b"\x01\x02"),
            "tags": ["staff", "vpn"],
            "score": "0.50",
            "mail": "ann@example.org",
            "code": "AB ",
        }
        assert table.canonical(source) == {**expected, "id": "7"}
        assert table.source_fields() == list(expected)  # type: ignore[attr-defined]
    finally:
        await table.close()


OBJECTS = """
CREATE TABLE spans (
  id int PRIMARY KEY, period interval, flags bit(3), mask varbit, valid int4range,
  stay tstzrange[], opens timetz, spot point, position pg_lsn, waits interval[]
);
INSERT INTO spans VALUES (1, '1 mon 2 days', '101', '1011', '[1,5)',
  '{"[2026-01-01 00:00:00+00,2026-02-01 00:00:00+00)"}', '09:00+01', '(1,2)', '0/16B3748',
  '{"1 day","02:00:00"}');
"""


async def test_a_value_the_driver_makes_an_object_of_reads_as_the_server_writes_it(
    pg_database: Server, tmp_path: Path
) -> None:
    """asyncpg decodes these types into Python objects whose text is not the value: a
    month became "32 days, 0:00:00", a range "<Range [1, 5)>", bits "<BitString 101>" —
    what a source then gave its destination, and what a destination compared its source's
    text with, planning an update on every run."""
    pg_database.psql(OBJECTS)
    expected: Record = {
        "id": "1",
        "period": "1 mon 2 days",
        "flags": "101",
        "mask": "1011",
        "valid": "[1,5)",
        "stay": ['["2026-01-01 00:00:00+00","2026-02-01 00:00:00+00")'],
        "opens": "09:00:00+01",
        "spot": "(1,2)",
        "position": "0/16B3748",
        "waits": ["1 day", "02:00:00"],
    }
    table = await opened(
        pg_database, tmp_path, Endpoint(connection="pg", table="spans"), write=True
    )
    query = "SELECT id, period, valid FROM spans -- a comment at the end"
    selected = await opened(pg_database, tmp_path, Endpoint(connection="pg", query=query))
    try:
        assert await read_all(table) == [expected]
        assert await read_all(selected) == [{"id": "1", "period": "1 mon 2 days", "valid": "[1,5)"}]
        # Written back as read, each value reads the same: nothing to update next time.
        update = Change(action="update", key="1", match={"id": "1"}, set=dict(expected))
        assert [o.error for o in await table.apply([update])] == [None]
        assert await read_all(table) == [expected]
    finally:
        await table.close()
        await selected.close()


async def test_rows_a_re_run_reads_whole_read_as_a_whole_read_gives_them(
    pg_database: Server, tmp_path: Path
) -> None:
    """A table whose columns each read as text (an interval's too) has a re-run read only
    the rows that differ from their records (`read_unless_same`): those were read by the
    driver's decoding, an interval as "32 days, 0:00:00"."""
    pg_database.psql(
        "CREATE TABLE periods (id text PRIMARY KEY, period interval, valid int4range);"
        "INSERT INTO periods VALUES ('1', '1 mon 2 days', '[1,5)'), ('2', '1 day', NULL);"
    )
    table = await opened(pg_database, tmp_path, Endpoint(connection="pg", table="periods"))
    rows: list[Record] = [
        {"id": "1", "period": "1 mon 2 days", "valid": "[1,5)"},
        {"id": "2", "period": "1 day"},
    ]

    async def every(keys: list[str | None], texts: list[str | None]) -> list[str] | None:
        return None

    async def first(keys: list[str | None], texts: list[str | None]) -> list[str] | None:
        return ["1"]

    try:
        assert table.row_columns("id") == ["id", "period", "valid"]  # type: ignore[attr-defined]
        assert await read_all(table) == rows
        assert await table.read_unless_same("id", every, 100) == rows  # type: ignore[attr-defined]
        assert await table.read_unless_same("id", first, 100) == rows[:1]  # type: ignore[attr-defined]
    finally:
        await table.close()


async def test_a_time_of_24_00_is_read_as_any_other_time(
    pg_database: Server, tmp_path: Path
) -> None:
    """PostgreSQL holds 24:00:00 in a time column (a day's end, a shop open all night),
    Python's time not: once a run had written it, every later read of the table failed,
    naming dates before year 1."""
    pg_database.psql("CREATE TABLE hours (id int PRIMARY KEY, closes time, ends time[]);")
    table = await opened(
        pg_database, tmp_path, Endpoint(connection="pg", table="hours"), write=True
    )
    given: Record = {"id": "1", "closes": "24:00:00", "ends": ["24:00:00", "9:30"]}
    late: Record = {"id": "2", "closes": "23:59:59.5"}
    try:
        made = [
            Change(action="create", key=key, match={"id": key}, set=dict(r))
            for key, r in (("1", given), ("2", late))
        ]
        assert [o.error for o in await table.apply(made)] == [None, None]
        assert await read_all(table) == [
            {"id": "1", "closes": "24:00:00", "ends": ["24:00:00", "09:30:00"]},
            {"id": "2", "closes": "23:59:59.500000"},
        ]
        assert [table.canonical(given), table.canonical(late)] == await read_all(table)
    finally:
        await table.close()


async def test_a_value_its_column_type_refuses_names_the_field(
    pg_database: Server, tmp_path: Path
) -> None:
    """PostgreSQL's words alone ("invalid input syntax for type smallint: "true"") left a
    user to guess which of a record's fields held the value."""
    pg_database.psql("CREATE TABLE flags (id int PRIMARY KEY, active smallint, born date);")
    table = await opened(
        pg_database, tmp_path, Endpoint(connection="pg", table="flags"), write=True
    )
    create = Change(action="create", key="1", match={"id": "1"}, set={"id": "1", "active": "true"})
    dated = Change(
        action="create", key="2", match={"id": "2"}, set={"id": "2", "born": "31.12.1999"}
    )
    try:
        errors = [outcome.error for outcome in await table.apply([create, dated])]
        assert errors[0] is not None and errors[1] is not None
        assert 'active: invalid input syntax for type smallint: "true"' in errors[0]
        assert "born: " in errors[1] and '"31.12.1999"' in errors[1]
    finally:
        await table.close()


async def test_an_update_of_a_float_is_written_where_the_database_shows_fewer_digits(
    pg_database: Server, tmp_path: Path
) -> None:
    """A row holding a change's values already is not written again, compared as text:
    with the database's extra_float_digits = 0 (as some older tools set it) floats showed
    fifteen digits (real six), 0.1 and 0.10000000000000002 the same text, and the update
    was skipped as there already, planned again on every run."""
    pg_database.psql(
        f'ALTER DATABASE "{pg_database.database}" SET extra_float_digits = 0;'
        "CREATE TABLE scores (id int PRIMARY KEY, score float8, single real);"
        "INSERT INTO scores VALUES (1, 0.1, 1.0000001), (2, 0.1, 1.0000001);"
    )
    table = await opened(
        pg_database, tmp_path, Endpoint(connection="pg", table="scores"), write=True
    )
    values: Record = {"score": "0.10000000000000002", "single": "1.0000002"}
    update = Change(action="update", key="1", match={"id": "1"}, set=values)
    found = Change(action="create", key="2", match={"id": "2"}, set={"id": "2", **values})
    try:
        assert [o.error for o in await table.apply([update, found])] == [None, None]
        assert await read_all(table) == [
            {"id": "1", "score": "0.10000000000000002", "single": "1.000000238418579"},
            {"id": "2", "score": "0.10000000000000002", "single": "1.000000238418579"},
        ]
    finally:
        await table.close()


async def test_a_job_select_is_a_source_and_cannot_be_written(
    pg_database: Server, tmp_path: Path
) -> None:
    pg_database.psql(TYPED)
    endpoint = Endpoint(connection="pg", query="SELECT id, mail FROM typed WHERE active")
    source = await opened(pg_database, tmp_path, endpoint)
    try:
        assert await read_all(source) == [{"id": "7", "mail": "ann@example.org"}]
    finally:
        await source.close()
    with pytest.raises(BadInput, match="a query is read only"):
        await opened(pg_database, tmp_path, endpoint, write=True)


async def test_a_row_the_table_refuses_fails_that_change_alone(
    pg_database: Server, tmp_path: Path
) -> None:
    pg_database.psql(TYPED)
    table = await opened(
        pg_database, tmp_path, Endpoint(connection="pg", table="typed"), write=True
    )

    def create(key: str, **fields: str) -> Change:
        return Change(action="create", key=key, match={"id": key}, set={"id": key, **fields})

    try:
        outcomes = await table.apply(
            [
                create("8", mail="bo@example.org"),
                create("9", mail="ann@example.org"),  # taken by 7: UNIQUE
                create("10", amount="not a number"),
                create("11", mail="cy@example.org"),
            ]
        )
        errors = [outcome.error for outcome in outcomes]
        assert errors[0] is None and errors[3] is None
        assert errors[1] is not None and "unique" in errors[1]
        assert errors[2] is not None and "numeric" in errors[2]
        ids = sorted(str(r["id"]) for r in await read_all(table))
        assert ids == ["11", "7", "8"]
    finally:
        await table.close()


async def test_a_missing_source_table_names_the_close_ones(
    pg_database: Server, tmp_path: Path
) -> None:
    pg_database.psql("CREATE TABLE people (id text)")
    with pytest.raises(BadInput, match=r"'peple' not found; did you mean public\.people"):
        await opened(pg_database, tmp_path, Endpoint(connection="pg", table="peple"))


async def test_a_destination_named_in_another_case_than_its_table_is_refused(
    pg_database: Server, tmp_path: Path
) -> None:
    """`table = "People"` where the table is `people`: a new table beside it would be
    made and every object created again; the job is refused, naming the table."""
    pg_database.psql("CREATE TABLE people (id text)")
    endpoint = Endpoint(connection="pg", table="People")
    with pytest.raises(BadInput, match=r"'People' not found, but 'people' is"):
        await opened(pg_database, tmp_path, endpoint, write=True)
    new = Endpoint(connection="pg", table="staff")  # a table no other is named like
    await (await opened(pg_database, tmp_path, new, write=True)).close()


async def test_a_table_the_login_may_not_write_is_refused_before_planning(
    pg_database: Server, tmp_path: Path
) -> None:
    pg_database.psql(
        "CREATE TABLE people (id text PRIMARY KEY);"
        "CREATE ROLE reader LOGIN PASSWORD 'reader-pw';"
        "GRANT SELECT ON people TO reader;"
    )
    reader = connection(pg_database, tmp_path, user="reader")
    password_file("postgresql", pg_database, tmp_path).write_text("reader-pw\n")
    provider = open_provider(reader, Endpoint(connection="pg", table="people"), LAYOUT)
    try:
        with pytest.raises(WriteFailed, match="may not INSERT, UPDATE, DELETE"):
            await provider.open(write=True)
    finally:
        await provider.close()
        pg_database.psql("DROP OWNED BY reader; DROP ROLE reader;")


async def test_connection_test_says_who_logged_in_and_what_it_may_do(
    pg_database: Server, tmp_path: Path
) -> None:
    pg_database.psql("CREATE TABLE people (id text PRIMARY KEY, mail text)")
    said = await check_reachable(
        connection(pg_database, tmp_path), jobs_writing("pg", "people", "staff")
    )

    assert f"as {pg_database.user}" in said and "may create tables in schema public" in said
    assert "writable: postgresql table 'people' may be read and written (job hr-to-people" in said
    assert "'staff' does not exist yet and may be created by the first write" in said
    alone = await check_reachable(connection(pg_database, tmp_path))
    assert "no job writes here" in alone and "writable" not in alone


async def test_connection_test_of_a_login_that_may_only_select_names_the_grant_missing(
    pg_database: Server, tmp_path: Path
) -> None:
    """It said "writable" of a login that may only read the table a job writes: the job
    then failed at its first run."""
    pg_database.psql(
        "CREATE TABLE people (id text PRIMARY KEY, mail text);"
        "CREATE ROLE reader LOGIN PASSWORD 'reader-pw';"
        "GRANT SELECT ON people TO reader;"
    )
    reader = connection(pg_database, tmp_path, user="reader")
    password_file("postgresql", pg_database, tmp_path).write_text("reader-pw\n")
    try:
        with pytest.raises(WriteFailed) as refused:
            await check_reachable(reader, jobs_writing("pg", "people", "staff"))
        said = str(refused.value)
        assert "'reader' may not INSERT, UPDATE, DELETE there" in said
        assert 'GRANT INSERT, UPDATE, DELETE ON "people" TO "reader" (job hr-to-people' in said
        assert 'GRANT CREATE ON SCHEMA "public" TO "reader"' in said and "hr-to-staff" in said
        read_only = await check_reachable(reader)  # as a source alone, it is enough
        assert "as reader" in read_only and "no job writes here" in read_only
    finally:
        pg_database.psql("DROP OWNED BY reader; DROP ROLE reader;")


async def test_connection_test_of_a_wrong_password_names_the_login(
    pg_database: Server, tmp_path: Path
) -> None:
    wrong = connection(pg_database, tmp_path)
    password_file("postgresql", pg_database, tmp_path).write_text("not-it\n")

    with pytest.raises(BadInput, match=f"refused {pg_database.user!r}"):
        await check_reachable(wrong)


def test_connection_settings_decoding_cannot_see_are_refused() -> None:
    bad = PostgresqlConnection(
        id="pg", database="d", user="u", port=70000, ca_file="/ca.pem", sslmode="require"
    )
    with pytest.raises(BadInput) as refused:
        check_connections([bad], FACTS, origin="connections.toml")
    assert "[pg].port: expected a port from 1 to 65535" in str(refused.value)
    assert '[pg].sslmode: expected sslmode = "verify-ca"' in str(refused.value)


async def test_changed_rows_are_chosen_by_the_column_and_a_foreign_watermark_reads_all(
    pg_database: Server, tmp_path: Path
) -> None:
    pg_database.psql(
        "CREATE TABLE marks (id int PRIMARY KEY, at timestamp, code text, photo bytea);"
        "INSERT INTO marks VALUES (1, '2026-01-01 10:00', 'B', NULL),"
        " (2, '2026-01-01 10:00:00.5', 'a', NULL), (3, NULL, 'Z', NULL)"
    )
    provider = await opened(pg_database, tmp_path, Endpoint(connection="pg", table="marks"))
    reader = cast(ChangeReader, provider)

    async def ids(since: str | None, field: str) -> list[str]:
        batches = reader.read_changed(10, since, field)
        return [str(record["id"]) async for batch in batches for record in batch]

    try:
        assert await ids("2026-01-01T10:00:00.5", "at") == ["2", "3"], "no value: always read"
        assert reader.watermark() == "2026-01-01T10:00:00.500000"
        assert await ids("not a time", "at") == ["1", "2", "3"], "another field's: read all"
        assert await ids("B", "code") == ["1", "2", "3"], "text that is no time: read all"
        assert cast(FallsBack, reader).fell_back() is not None and reader.watermark() is None
        with pytest.raises(BadInput, match=r"'aat' is not a column.*close: at"):
            await ids(None, "aat")
        with pytest.raises(BadInput, match=r"'photo' is a bytea column"):
            await ids(None, "photo")
    finally:
        await provider.close()


async def test_the_size_hint_knows_a_table_just_filled_before_its_statistics_do(
    pg_database: Server, tmp_path: Path
) -> None:
    """A first run fills a table that was analysed empty; the re-run right after it must
    not take it for empty (it would plan it as a large one, reading it twice)."""
    pg_database.psql(
        "CREATE TABLE people (id integer PRIMARY KEY, mail text);\n"
        "CREATE VIEW people_view AS SELECT * FROM people;\n"
        "VACUUM ANALYZE people;\n"
        "INSERT INTO people SELECT i, 'p' || i || '@example.org' "
        "FROM generate_series(1, 3000) AS i;"
    )
    table = await opened(pg_database, tmp_path, Endpoint(connection="pg", table="people"))
    view = await opened(pg_database, tmp_path, Endpoint(connection="pg", table="people_view"))
    try:
        stats = pg_database.psql("SELECT reltuples FROM pg_class WHERE relname = 'people'")
        assert float(stats.strip()) <= 0  # what the statistics say until autovacuum
        assert await table.size_hint() == 3000  # type: ignore[attr-defined]
        pg_database.psql("INSERT INTO people VALUES (3001, 'last@example.org'); ANALYZE people")
        # Analysed: the statistics' density times the table's pages, about the rows.
        assert 2700 <= await table.size_hint() <= 3300  # type: ignore[attr-defined]
        assert await view.size_hint() >= 0  # type: ignore[attr-defined]
    finally:
        await table.close()
        await view.close()


async def test_a_re_run_right_after_a_first_run_plans_in_memory(
    pg_database: Server, tmp_path: Path
) -> None:
    """A table a first run just filled (analysed empty before it, autovacuum not yet by),
    next to a source as large: the re-run reads it once, in memory, instead of planning
    it as a large table read twice."""
    rows = READ_TWICE + 10_000
    fill = f"SELECT i, 'p' || i || '@example.org' FROM generate_series(1, {rows}) AS i"
    pg_database.psql(
        "CREATE TABLE hr (id integer PRIMARY KEY, mail text);"
        "CREATE TABLE people (id integer PRIMARY KEY, mail text);"
        f"INSERT INTO hr {fill}; ANALYZE hr; ANALYZE people;"
        f"INSERT INTO people {fill};"
    )
    source = await opened(pg_database, tmp_path, Endpoint(connection="pg", table="hr"))
    people = await opened(pg_database, tmp_path, Endpoint(connection="pg", table="people"))
    mapping = ObjectMapping(keys=["id"], fields=[FieldMap(to="id"), FieldMap(to="mail")])
    try:
        assert not await lean_enough(mapping, Sides(source, people), None)
        pg_database.psql("TRUNCATE people")  # a first run's destination: empty
        assert await lean_enough(mapping, Sides(source, people), None)
    finally:
        await source.close()
        await people.close()


async def test_connection_test_of_a_table_in_a_schema_the_login_may_not_use_names_the_grant(
    pg_database: Server, tmp_path: Path
) -> None:
    """Every right on the table, none on its schema: PostgreSQL refuses every statement
    on it ("permission denied for schema hr"), so no run could write it."""
    pg_database.psql(
        "CREATE SCHEMA hr; CREATE TABLE hr.people (id text PRIMARY KEY, mail text);"
        "CREATE ROLE writer LOGIN PASSWORD 'writer-pw';"
        "GRANT SELECT, INSERT, UPDATE, DELETE ON hr.people TO writer;"
    )
    writer = connection(pg_database, tmp_path, user="writer")
    password_file("postgresql", pg_database, tmp_path).write_text("writer-pw\n")
    try:
        with pytest.raises(WriteFailed) as refused:
            await check_reachable(writer, jobs_writing("pg", "hr.people"))
        assert 'GRANT USAGE ON SCHEMA "hr" TO "writer"' in str(refused.value)
        pg_database.psql("GRANT USAGE ON SCHEMA hr TO writer;")
        said = await check_reachable(writer, jobs_writing("pg", "hr.people"))
        assert "'hr.people' may be read and written" in said
    finally:
        pg_database.psql("DROP OWNED BY writer; DROP ROLE writer; DROP SCHEMA hr CASCADE;")
