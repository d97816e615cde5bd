"""The MySQL provider on a real MariaDB server: typed columns as canonical text, a job's
SELECT as a source, a rejected row failing alone, and errors that name what to fix."""

from __future__ import annotations

import asyncio
import sqlite3
from pathlib import Path

import pytest

from core.checks.connections import check_connections
from core.errors import BadInput, WriteFailed
from schemas.connections import MysqlConnection, PostgresqlConnection, SqliteConnection
from schemas.jobs import Endpoint, FieldMap, Job, ObjectMapping, Safety
from schemas.plan import Change
from schemas.values import Binary, Record
from services.providers import FACTS, check_reachable, open_provider
from services.providers.base import KeyReader, Layout, Provider
from tests.mysql_server import Server
from tests.sql_servers import jobs_writing, password_file, read_all, sql_connection
from tests.sql_servers import opened as opened_side

from .test_scoped_reads import applied, plan_between, table

TYPED = """
CREATE TABLE typed (
  id int PRIMARY KEY, amount decimal(10,2), active tinyint(1), born date,
  seen datetime, stamp timestamp NULL, extra json, photo blob, score double,
  mail varchar(100) UNIQUE, kind enum('staff','guest'), starts time, code char(6)
);
SET time_zone = '+01:00';
INSERT INTO typed VALUES (7, 12.5, 1, '1990-02-03', '2026-01-02 03:04:05',
  '2026-01-02 03:04:05', '{"b": 1, "a": [true, null]}', x'0102', 0.5, 'ann@example.org',
  'staff', '08:30:00', ' AB ');
"""
LAYOUT = Layout(keys=("id",))


def connection(
    server: Server, folder: Path, user: str | None = None
) -> PostgresqlConnection | MysqlConnection:
    return sql_connection("mysql", server, folder, "my", user)


async def opened(
    server: Server, folder: Path, endpoint: Endpoint, *, write: bool = False
) -> Provider:
    return await opened_side(connection(server, folder), endpoint, LAYOUT, write=write)


def reading_login(
    server: Server, folder: Path, user: str, readable: str, setup: str = ""
) -> PostgresqlConnection | MysqlConnection:
    """A connection as `user`, a login (dropped by the test) that may SELECT `readable`
    alone; `setup` run first."""
    server.sql(
        f"{setup}CREATE USER '{user}'@'%' IDENTIFIED BY '{user}-pw';"
        f"GRANT SELECT ON `{server.database}`.{readable} TO '{user}'@'%';"
    )
    login = connection(server, folder, user=user)  # writes the server's password file
    password_file("mysql", server, folder).write_text(f"{user}-pw\n")
    return login


async def test_typed_columns_read_as_canonical_text_and_a_source_spelling_compares_equal(
    my_database: Server, tmp_path: Path
) -> None:
    my_database.sql(TYPED)
    table = await opened(
        my_database, tmp_path, Endpoint(connection="my", table="typed"), write=True
    )
    expected: Record = {
        "id": "7",
        "amount": "12.50",
        "active": "true",
        "born": "1990-02-03",
        "seen": "2026-01-02T03:04:05",
        "stamp": "2026-01-02T02:04:05Z",
        "extra": '{"a":[true,null],"b":1}',
        "photo": Binary(b"\x01\x02"),
        "score": "0.5",
        "mail": "ann@example.org",
        "kind": "staff",
        "starts": "08:30:00",
        "code": " AB",  # char(n): read without its trailing spaces
    }
    try:
        assert await read_all(table) == [expected]
        # What a CSV source would say for the same row plans as unchanged.
        source: Record = {
            "id": "007",
            "amount": "12.5",
            "active": "yes",
            "born": "1990-02-03",
            "seen": "2026-01-02 03:04:05",
            "stamp": "2026-01-02 03:04:05+01:00",
            "extra": '{"b": 1, "a": [true, null]}',
            "photo": Binary(b"\x01\x02"),
            "score": "0.50",
            "mail": "ann@example.org",
            "kind": "staff",
            "starts": "08:30",
            "code": " AB ",
        }
        assert table.canonical(source) == expected
        assert table.source_fields() == list(expected)  # type: ignore[attr-defined]
        # Written back in a source's spelling, the row reads the same.
        again = Change(action="update", key="7", match={"id": "7"}, set=dict(source))
        assert [o.error for o in await table.apply([again])] == [None]
        assert await read_all(table) == [expected]
    finally:
        await table.close()


async def test_a_bit_column_takes_a_boolean_as_one_or_zero(
    my_database: Server, tmp_path: Path
) -> None:
    """BIT(1) is a common boolean column: "true" from a boolean source (PostgreSQL's, a
    CSV's) was sent as text and refused ("Data too long for column")."""
    my_database.sql("CREATE TABLE flags (id int PRIMARY KEY, active bit(1));")
    table = await opened(
        my_database, tmp_path, Endpoint(connection="my", table="flags"), write=True
    )

    def create(key: str, active: str) -> Change:
        return Change(
            action="create", key=key, match={"id": key}, set={"id": key, "active": active}
        )

    try:
        assert table.canonical({"id": "1", "active": "true"}) == {"id": "1", "active": "1"}
        outcomes = await table.apply([create("1", "true"), create("2", "no"), create("3", "1")])
        assert [o.error for o in outcomes] == [None, None, None]
        assert await read_all(table) == [
            {"id": "1", "active": "1"},
            {"id": "2", "active": "0"},
            {"id": "3", "active": "1"},
        ]
    finally:
        await table.close()


async def test_a_create_without_a_value_a_column_requires_fails_alone(
    my_database: Server, tmp_path: Path
) -> None:
    """A column NOT NULL without a default that a create gives no value (1364, "doesn't
    have a default value") is that change's error, as PostgreSQL's not-null violation
    is: the whole batch failed with it, every record of it."""
    my_database.sql("CREATE TABLE aged (id int PRIMARY KEY, name text, age int NOT NULL);")
    table = await opened(my_database, tmp_path, Endpoint(connection="my", table="aged"), write=True)
    aged = Change(action="create", key="1", match={"id": "1"}, set={"id": "1", "age": "40"})
    ageless = Change(action="create", key="2", match={"id": "2"}, set={"id": "2", "name": "Bo"})
    other = Change(action="create", key="3", match={"id": "3"}, set={"id": "3", "age": "7"})
    try:
        errors = [o.error for o in await table.apply([aged, ageless, other])]
        assert errors[0] is None and errors[2] is None, errors
        assert errors[1] is not None and "age" in errors[1], errors
        assert await read_all(table) == [{"id": "1", "age": "40"}, {"id": "3", "age": "7"}]
    finally:
        await table.close()


async def test_an_update_of_a_float_beyond_its_six_digits_shown_is_written(
    my_database: Server, tmp_path: Path
) -> None:
    """A row holding a change's values already is not written again — compared as text,
    a FLOAT's six digits: 1234567 and 1234568 (each a single exactly) were one text, and
    the update was skipped as there already."""
    my_database.sql(
        "CREATE TABLE scores (id int PRIMARY KEY, score float, twice double);"
        "INSERT INTO scores VALUES (1, 1234567, 0.1), (2, 1234567, 0.1);"
    )
    table = await opened(
        my_database, tmp_path, Endpoint(connection="my", table="scores"), write=True
    )
    score: Record = {"score": "1234568"}
    twice: Record = {"twice": "0.10000000000000002"}
    changes = [
        Change(action="update", key="1", match={"id": "1"}, set=score),
        Change(action="update", key="1", match={"id": "1"}, set=twice),
        Change(action="create", key="2", match={"id": "2"}, set={"id": "2", **score}),
        Change(action="create", key="2", match={"id": "2"}, set={"id": "2", **twice}),
    ]
    try:
        assert [o.error for o in await table.apply(changes)] == [None] * 4
    finally:
        await table.close()
    held = my_database.sql("SELECT id, CAST(score AS DOUBLE), twice FROM scores ORDER BY id")
    assert held.splitlines() == [
        "1\t1234568\t0.10000000000000002",
        "2\t1234568\t0.10000000000000002",
    ]


async def test_a_float_is_read_as_the_single_it_holds(my_database: Server, tmp_path: Path) -> None:
    """MariaDB sends a FLOAT's text with six significant digits: 1234567 was read as
    1234570 (a source copied it so), and a source's 1234568 compared equal to it, so the
    change was never planned."""
    my_database.sql("CREATE TABLE scores (id int PRIMARY KEY, score float, mail text);")
    my_database.sql("INSERT INTO scores VALUES (1, 1234567, 'a'), (2, 34346.18, NULL);")
    table = await opened(
        my_database, tmp_path, Endpoint(connection="my", table="scores"), write=True
    )
    try:
        read = sorted(await read_all(table), key=lambda r: int(str(r["id"])))
        assert read == [
            {"id": "1", "score": "1234567.0", "mail": "a"},
            {"id": "2", "score": "34346.1796875"},
        ]
        # A re-run: the source's own spellings of the values held compare equal (no
        # phantom update), a change beyond six digits does not, and is written.
        assert table.canonical({"id": "1", "score": "1234567", "mail": "a"}) == read[0]
        assert table.canonical({"id": "2", "score": "34346.18"}) == read[1]
        assert table.canonical({"id": "1", "score": "1234568", "mail": "a"}) != read[0]
        assert isinstance(table, KeyReader)
        [looked_up] = [r async for batch in table.read_keys("id", ["1"], 10) for r in batch]
        assert looked_up == read[0]  # a `--key` run's lookup reads it exactly too
        change = Change(action="update", key="1", match={"id": "1"}, set={"score": "1234568"})
        assert [o.error for o in await table.apply([change])] == [None]
        again = sorted(await read_all(table), key=lambda r: int(str(r["id"])))
        assert again[0] == {"id": "1", "score": "1234568.0", "mail": "a"}
    finally:
        await table.close()
    held = my_database.sql("SELECT CAST(score AS DOUBLE) FROM scores ORDER BY id")
    assert held.splitlines() == ["1234568", "34346.1796875"]
    query = "SELECT id, CAST(score AS DOUBLE) AS score FROM scores WHERE id = 2"
    selected = await opened(my_database, tmp_path, Endpoint(connection="my", query=query))
    try:
        assert await read_all(selected) == [{"id": "2", "score": "34346.1796875"}]
    finally:
        await selected.close()


SCORES = ObjectMapping(keys=["id"], fields=[FieldMap(to="id"), FieldMap(to="score")])


def scores_job(source: str, destination: str) -> Job:
    return Job(
        id="scores",
        source=Endpoint(connection=source, table="scores"),
        destination=Endpoint(connection=destination, table="scores"),
        objects=[SCORES],
        safety=Safety(max_percent=100),
    )


async def test_a_float_copied_from_mariadb_is_the_value_it_holds(
    my_database: Server, tmp_path: Path
) -> None:
    """A MariaDB FLOAT copied to SQLite: 1234567 was written 1234570.0."""
    my_database.sql("CREATE TABLE scores (id int PRIMARY KEY, score float);")
    my_database.sql("INSERT INTO scores VALUES (1, 1234567), (2, 34346.18);")
    source = connection(my_database, tmp_path)
    lite = SqliteConnection(id="lite", path=str(tmp_path / "lite.db"))
    the_job = scores_job("my", "lite")

    first = await plan_between(source, lite, the_job, None)
    outcomes, written = await applied(source, lite, the_job, first.plan.changes)

    assert [o.error for o in outcomes] == [None, None]
    assert sorted((r["id"], r["score"]) for r in written) == [
        ("1", "1234567.0"),
        ("2", "34346.1796875"),
    ]
    assert (await plan_between(source, lite, the_job, None)).plan.changes == []


async def test_a_float_is_planned_again_only_when_its_value_changed(
    my_database: Server, tmp_path: Path
) -> None:
    """Into a MariaDB FLOAT: the values it holds, spelled as a source spells them, plan
    nothing; a change beyond the six digits the server sends (1234567 to 1234568) is
    planned — it was taken for the value held — and written, once."""
    my_database.sql("CREATE TABLE scores (id varchar(10) PRIMARY KEY, score float);")
    my_database.sql("INSERT INTO scores VALUES ('1', 1234567), ('2', 34346.18);")
    table(tmp_path / "hr.db", "scores", ["id", "score"], [("1", "1234567"), ("2", "34346.18")])
    hr = SqliteConnection(id="hr", path=str(tmp_path / "hr.db"))
    target = connection(my_database, tmp_path)
    the_job = scores_job("hr", "my")

    assert (await plan_between(hr, target, the_job, None)).plan.changes == []
    lite = sqlite3.connect(tmp_path / "hr.db")
    with lite:
        lite.execute("UPDATE scores SET score = '1234568' WHERE id = '1'")
    lite.close()
    changed = await plan_between(hr, target, the_job, None)
    assert [(c.action, c.key, c.set) for c in changed.plan.changes] == [
        ("update", "1", {"score": "1234568.0"})
    ]
    outcomes, _ = await applied(hr, target, the_job, changed.plan.changes)
    assert [o.error for o in outcomes] == [None]
    assert (
        my_database.sql("SELECT CAST(score AS DOUBLE) FROM scores WHERE id = '1'").strip()
        == "1234568"
    )
    assert (await plan_between(hr, target, the_job, None)).plan.changes == []


async def test_a_job_select_is_a_source_and_cannot_be_written(
    my_database: Server, tmp_path: Path
) -> None:
    my_database.sql(TYPED)
    query = "SELECT id, mail, active = 1 AS on_duty FROM typed WHERE active"
    endpoint = Endpoint(connection="my", query=query)
    source = await opened(my_database, tmp_path, endpoint)
    try:
        assert source.source_fields() == ["id", "mail", "on_duty"]  # type: ignore[attr-defined]
        assert await read_all(source) == [{"id": "7", "mail": "ann@example.org", "on_duty": "1"}]
    finally:
        await source.close()
    with pytest.raises(BadInput, match="a query is read only"):
        await opened(my_database, tmp_path, endpoint, write=True)


async def test_a_row_the_table_refuses_fails_that_change_alone(
    my_database: Server, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    my_database.sql(TYPED)
    table = await opened(
        my_database, tmp_path, Endpoint(connection="my", table="typed"), write=True
    )

    def create(key: str, **fields: str) -> Change:
        return Change(action="create", key=key, match={"id": key}, set={"id": key, **fields})

    try:
        outcomes = await table.apply(
            [
                create("8", mail="bo@example.org"),
                create("9", mail="ann@example.org"),  # taken by 7: UNIQUE
                create("10", amount="not a number"),
                create("11", mail="cy@example.org", kind="robot"),  # not in the enum
                create("12", mail="di@example.org"),
            ]
        )
        errors = [outcome.error for outcome in outcomes]
        assert errors[0] is None and errors[4] is None
        assert errors[1] is not None and "Duplicate entry" in errors[1]
        assert errors[2] is not None and "amount" in errors[2]
        assert errors[3] is not None and "kind" in errors[3]
        rows = {str(r["id"]): r.get("mail") for r in await read_all(table)}
        # the row that holds the mail another create wanted is left as it was
        assert rows == {"7": "ann@example.org", "8": "bo@example.org", "12": "di@example.org"}
        # rolling a group back is clean: the server warns of nothing it could not undo
        assert [r.getMessage() for r in caplog.records if r.name == "asyncmy"] == []
    finally:
        await table.close()


async def test_a_missing_source_table_names_the_close_ones(
    my_database: Server, tmp_path: Path
) -> None:
    my_database.sql("CREATE TABLE people (id text)")
    database = my_database.database
    with pytest.raises(BadInput, match=rf"'peple' not found; did you mean {database}\.people"):
        await opened(my_database, tmp_path, Endpoint(connection="my", table="peple"))


async def test_a_destination_named_in_another_case_than_its_table_is_refused(
    my_database: Server, tmp_path: Path
) -> None:
    """`table = "People"` where the table is `people`: a new table beside it would be
    made and every object created again; the job is refused, naming the table."""
    my_database.sql("CREATE TABLE people (id text)")
    endpoint = Endpoint(connection="my", table="People")
    with pytest.raises(BadInput, match=r"'People' not found, but 'people' is"):
        await opened(my_database, tmp_path, endpoint, write=True)
    new = Endpoint(connection="my", table="staff")  # a table no other is named like
    await (await opened(my_database, tmp_path, new, write=True)).close()


async def test_a_table_the_login_may_not_write_is_refused_before_planning(
    my_database: Server, tmp_path: Path
) -> None:
    reader = reading_login(
        my_database,
        tmp_path,
        "reader",
        "people",
        "CREATE TABLE people (id varchar(20) PRIMARY KEY);",
    )
    provider = open_provider(reader, Endpoint(connection="my", table="people"), LAYOUT)
    try:
        with pytest.raises(WriteFailed, match="'reader' may not INSERT, UPDATE, DELETE"):
            await provider.open(write=True)
        said = await check_reachable(reader)
        assert "as reader@%" in said and "may not create tables" in said
    finally:
        await provider.close()
        my_database.sql("DROP USER 'reader'@'%'")


async def test_connection_test_says_who_logged_in_and_what_it_may_do(
    my_database: Server, tmp_path: Path
) -> None:
    my_database.sql("CREATE TABLE people (id varchar(20) PRIMARY KEY, mail text);")
    said = await check_reachable(
        connection(my_database, tmp_path), jobs_writing("my", "people", "staff")
    )

    assert said.startswith("MariaDB ") and f"as {my_database.user}@%" in said
    assert f"may create tables in {my_database.database}" in said
    assert "writable: mysql table 'people' may be read and written (job hr-to-people" in said
    assert "'staff' does not exist yet and may be created by the first write" in said
    alone = await check_reachable(connection(my_database, tmp_path))
    assert "no job writes here" in alone and "writable" not in alone


async def test_connection_test_of_a_login_that_may_only_select_names_the_grant_missing(
    my_database: Server, tmp_path: Path
) -> None:
    """It said "writable" of a login that may only read the table a job writes: the job
    then failed at its first run."""
    reader = reading_login(
        my_database,
        tmp_path,
        "reader",
        "people",
        "CREATE TABLE people (id varchar(20) PRIMARY KEY, mail text);",
    )
    try:
        with pytest.raises(WriteFailed) as refused:
            await check_reachable(reader, jobs_writing("my", "people", "staff"))
        said = str(refused.value)
        assert "'reader' may not INSERT, UPDATE, DELETE there" in said
        people = f"`{my_database.database}`.`people`"
        assert f"GRANT INSERT, UPDATE, DELETE ON {people} TO `reader` (job hr-to-people" in said
        assert f"GRANT CREATE, ALTER ON `{my_database.database}`.* TO `reader`" in said
        read_only = await check_reachable(reader)  # as a source alone, it is enough
        assert "as reader@%" in read_only and "no job writes here" in read_only
    finally:
        my_database.sql("DROP USER 'reader'@'%'")


async def test_connection_test_of_a_login_whose_rights_come_through_a_role_says_so(
    my_database: Server, tmp_path: Path
) -> None:
    """The server lists no grant of a role to its user: the test refuses nothing, and
    does not say "writable" either."""
    my_database.sql(
        "CREATE TABLE people (id varchar(20) PRIMARY KEY, mail text);"
        "CREATE ROLE writer;"
        f"GRANT SELECT, INSERT, UPDATE, DELETE ON `{my_database.database}`.people TO writer;"
        "CREATE USER 'member'@'%' IDENTIFIED BY 'member-pw'; GRANT writer TO 'member'@'%';"
        "SET DEFAULT ROLE writer FOR 'member'@'%';"
    )
    member = connection(my_database, tmp_path, user="member")
    password_file("mysql", my_database, tmp_path).write_text("member-pw\n")
    try:
        said = await check_reachable(member, jobs_writing("my", "people"))
        assert "not refused (rights through a role are not listed): mysql table 'people'" in said
        assert "writable" not in said
    finally:
        my_database.sql("DROP USER 'member'@'%'; DROP ROLE writer;")


async def test_a_wrong_password_names_the_login(my_database: Server, tmp_path: Path) -> None:
    wrong = connection(my_database, tmp_path)
    password_file("mysql", my_database, tmp_path).write_text("not-it\n")

    with pytest.raises(BadInput, match=f"refused {my_database.user!r}: Access denied"):
        await check_reachable(wrong)


def test_connection_settings_decoding_cannot_see_are_refused() -> None:
    bad = MysqlConnection(id="my", database="d", user="u", port=70000, ca_file="/ca.pem")
    with pytest.raises(BadInput) as refused:
        check_connections([bad], FACTS, origin="connections.toml")
    assert "[my].port: expected a port from 1 to 65535" in str(refused.value)
    assert '[my].tls: expected tls = "verify-ca"' in str(refused.value)


async def test_batches_written_at_once_by_several_runners_do_not_deadlock(
    my_database: Server, tmp_path: Path
) -> None:
    my_database.sql(
        "CREATE TABLE crowd (id varchar(20), name text, UNIQUE KEY k (id)) "
        "ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin"
    )
    endpoint = Endpoint(connection="my", table="crowd")
    sides = [await opened(my_database, tmp_path, endpoint, write=True) for _ in range(4)]

    def creates(side: int) -> list[Change]:
        ids = [f"p{n:05d}" for n in range(side, 8000, len(sides))]  # keys interleaved
        return [
            Change(action="create", key=i, match={"id": i}, set={"id": i, "name": i}) for i in ids
        ]

    try:
        for _ in range(3):  # each round into an emptied table, as a first run
            my_database.sql("TRUNCATE crowd")
            await asyncio.gather(*(side.apply(creates(n)) for n, side in enumerate(sides)))
            assert my_database.sql("SELECT count(*) FROM crowd").strip() == "8000"
    finally:
        for side in sides:
            await side.close()


async def test_the_size_hint_of_an_empty_table_is_0(my_database: Server, tmp_path: Path) -> None:
    """InnoDB's estimate says 1 of an empty table: a first run into it from a source that
    cannot say its size (a directory) must see it empty, to plan its creates on disk."""
    my_database.sql("CREATE TABLE people (id int PRIMARY KEY, mail varchar(100)) ENGINE=InnoDB")
    table = await opened(my_database, tmp_path, Endpoint(connection="my", table="people"))
    try:
        assert await table.size_hint() == 0  # type: ignore[attr-defined]
        my_database.sql("INSERT INTO people VALUES (1, 'p1@example.org')")
        assert await table.size_hint() == 1  # type: ignore[attr-defined]
        my_database.sql("DELETE FROM people")
        assert await table.size_hint() == 0  # type: ignore[attr-defined]
    finally:
        await table.close()


async def test_the_size_hint_counts_a_table_just_filled_and_a_view(
    my_database: Server, tmp_path: Path
) -> None:
    """A re-run right after a first run must not take the table for empty (it would plan
    it as a large one, reading it twice)."""
    values = ", ".join(f"({i}, 'p{i}@example.org')" for i in range(1, 3001))
    my_database.sql(
        "CREATE TABLE people (id int PRIMARY KEY, mail varchar(100)) ENGINE=InnoDB;"
        "CREATE VIEW people_view AS SELECT * FROM people;"
        f"INSERT INTO people VALUES {values};"
    )
    table = await opened(my_database, tmp_path, Endpoint(connection="my", table="people"))
    view = await opened(my_database, tmp_path, Endpoint(connection="my", table="people_view"))
    try:
        # InnoDB's count is an estimate: about the rows.
        assert 2700 <= await table.size_hint() <= 3300  # type: ignore[attr-defined]
        assert 2700 <= await view.size_hint() <= 3300  # type: ignore[attr-defined]
    finally:
        await table.close()
        await view.close()
    # A login that may read the view alone (EXPLAIN of a view wants SHOW VIEW): it still
    # gets a hint, and the view still reads.
    viewer = reading_login(my_database, tmp_path, "viewer", "people_view")
    seen = open_provider(viewer, Endpoint(connection="my", table="people_view"), LAYOUT)
    try:
        await seen.open(write=False)
        assert await seen.size_hint() >= 0  # type: ignore[attr-defined]
        assert len(await read_all(seen)) == 3000
    finally:
        await seen.close()
        my_database.sql("DROP USER 'viewer'@'%'")


async def test_connection_test_of_a_login_whose_role_is_not_its_default_says_to_set_it(
    my_database: Server, tmp_path: Path
) -> None:
    """A role granted with the rights, but not the login's default: no session of a run
    has it, so nothing may be written, and the GRANT to give is not the fix."""
    my_database.sql(
        "CREATE TABLE people (id varchar(20) PRIMARY KEY, mail text);"
        "CREATE ROLE writer;"
        f"GRANT SELECT, INSERT, UPDATE, DELETE ON `{my_database.database}`.people TO writer;"
        "CREATE USER 'member'@'%' IDENTIFIED BY 'member-pw'; GRANT writer TO 'member'@'%';"
        f"GRANT SELECT ON `{my_database.database}`.people TO 'member'@'%';"
    )
    member = connection(my_database, tmp_path, user="member")
    password_file("mysql", my_database, tmp_path).write_text("member-pw\n")
    try:
        with pytest.raises(WriteFailed) as refused:
            await check_reachable(member, jobs_writing("my", "people"))
        said = str(refused.value)
        assert "'member' may not INSERT, UPDATE, DELETE there" in said
        assert "or, if its role writer is to give them: it is not active when it logs in" in said
        assert "SET DEFAULT ROLE writer FOR 'member'@'%'" in said
    finally:
        my_database.sql("DROP USER 'member'@'%'; DROP ROLE writer;")


async def test_connection_test_of_a_table_in_another_database_asks_its_rights_there(
    my_database: Server, tmp_path: Path
) -> None:
    """A table of another database than the connection's: its rights are asked there.
    (One the login may not see at all is said to be none it may see.)"""
    other = f"{my_database.database}_other"
    writer = reading_login(
        my_database,
        tmp_path,
        "writer",
        "nothing",
        f"CREATE DATABASE `{other}`; CREATE TABLE `{other}`.people (id varchar(20) PRIMARY KEY,"
        " mail text); CREATE TABLE nothing (id int);",
    )
    try:
        with pytest.raises(WriteFailed, match="none that 'writer' may see"):
            await check_reachable(writer, jobs_writing("my", f"{other}.people"))
        my_database.sql(f"GRANT SELECT ON `{other}`.people TO 'writer'@'%'")
        with pytest.raises(WriteFailed) as refused:
            await check_reachable(writer, jobs_writing("my", f"{other}.people"))
        assert f"GRANT INSERT, UPDATE, DELETE ON `{other}`.`people` TO `writer`" in str(
            refused.value
        )
        my_database.sql(f"GRANT SELECT, INSERT, UPDATE, DELETE ON `{other}`.people TO 'writer'@'%'")
        said = await check_reachable(writer, jobs_writing("my", f"{other}.people"))
        assert f"'{other}.people' may be read and written" in said
    finally:
        my_database.sql(f"DROP USER 'writer'@'%'; DROP DATABASE `{other}`")


async def test_an_enum_or_set_value_in_another_case_or_order_compares_as_the_column_holds_it(
    my_database: Server, tmp_path: Path
) -> None:
    """An ENUM keeps its member as declared ("active" stored as "Active", in a collation
    without case), a SET its members in their declared order, each once ("y,x" as
    "x,y"): compared as given, the plan updated such a row on every run."""
    my_database.sql(
        "CREATE TABLE states (id int PRIMARY KEY, state enum('Active','Gone'),"
        " rights set('x','y'), exact enum('On','Off') COLLATE utf8mb4_bin);"
    )
    table = await opened(
        my_database, tmp_path, Endpoint(connection="my", table="states"), write=True
    )
    given: Record = {"id": "1", "state": "active", "rights": "Y,x,y"}
    try:
        assert table.canonical(given) == {"id": "1", "state": "Active", "rights": "x,y"}
        # a collation with case: "on" is no member, which the server refuses
        assert table.canonical({"id": "2", "exact": "on"}) == {"id": "2", "exact": "on"}
        made = Change(action="create", key="1", match={"id": "1"}, set=dict(given))
        refused = Change(action="create", key="2", match={"id": "2"}, set={"exact": "on"})
        outcomes = await table.apply([made, refused])
        assert outcomes[0].error is None and outcomes[1].error is not None
        assert await read_all(table) == [table.canonical(given)]
    finally:
        await table.close()
    # A table of text alone: a record of texts was taken for its own canonical form.
    my_database.sql("CREATE TABLE plain (id varchar(9) PRIMARY KEY, state enum('Active'));")
    texts = await opened(my_database, tmp_path, Endpoint(connection="my", table="plain"))
    try:
        assert texts.canonical({"id": "a", "state": "active"}) == {"id": "a", "state": "Active"}
        assert texts.row_columns("id") == ["id", "state"]  # type: ignore[attr-defined]
    finally:
        await texts.close()


async def test_a_tinyint_1_column_holding_other_numbers_than_0_and_1_reads_them(
    my_database: Server, tmp_path: Path
) -> None:
    """TINYINT(1) is MySQL's BOOLEAN, and read as true or false; but it holds -128 to 127,
    and older schemas keep small codes in it (a level, a status): 2 and 3 were both read
    "true", copied so to a destination, and a source's "2" compared with it was written
    again on every run."""
    my_database.sql(
        "CREATE TABLE levels (id int PRIMARY KEY, level tinyint(1));"
        "INSERT INTO levels VALUES (1, 0), (2, 1), (3, 2), (4, -1);"
    )
    table = await opened(
        my_database, tmp_path, Endpoint(connection="my", table="levels"), write=True
    )
    query = "SELECT id, level FROM levels"
    selected = await opened(my_database, tmp_path, Endpoint(connection="my", query=query))
    levels = [
        {"id": "1", "level": "false"},
        {"id": "2", "level": "true"},
        {"id": "3", "level": "2"},
        {"id": "4", "level": "-1"},
    ]
    try:
        assert await read_all(table) == levels
        assert await read_all(selected) == levels
        assert table.canonical({"id": "5", "level": "3"}) == {"id": "5", "level": "3"}
        assert table.canonical({"id": "5", "level": "yes"}) == {"id": "5", "level": "true"}
        made = Change(action="create", key="5", match={"id": "5"}, set={"id": "5", "level": "3"})
        assert [o.error for o in await table.apply([made])] == [None]
        assert (await read_all(table))[-1] == {"id": "5", "level": "3"}
    finally:
        await table.close()
        await selected.close()
