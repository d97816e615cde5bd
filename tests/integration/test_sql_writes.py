"""Creates written straight into a PostgreSQL or MariaDB table (COPY, multi-row INSERT)
where a unique index over the key guards it: a batch delivered again, or one meeting a
row another writer added, is refused whole by the index and applied as create-if-absent,
so nothing is written twice and nothing is lost — creates sent as changes and as columns
(a first run's batch: schemas/work.py `Creates`) alike."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from pathlib import Path

import pytest

from schemas.jobs import Endpoint, FieldMap, Job, ObjectMapping
from schemas.plan import Change
from schemas.work import Creates
from services.providers.base import AppliesColumns, KeyReader, Layout, Outcome, Provider
from services.runner.planning.sides import apply_by_type
from tests.sql_servers import SqlProvider, opened, read_all, sql_connection

LAYOUT = Layout(keys=("id",), fields=("id", "name", "mail"))


async def crowd(
    provider: SqlProvider, request: pytest.FixtureRequest, tmp_path: Path, table: str = ""
) -> tuple[Provider, Callable[[str], str]]:
    """The side writing table `crowd` of the test's own database (made first with
    `table`'s columns when given), and how to run SQL there with the server's client."""
    server = request.getfixturevalue("pg_database" if provider == "postgresql" else "my_database")
    run_sql: Callable[[str], str] = server.psql if provider == "postgresql" else server.sql
    if table:
        run_sql(f"CREATE TABLE crowd ({table})")
    connection = sql_connection(provider, server, tmp_path, "db")
    side = await opened(connection, Endpoint(connection="db", table="crowd"), LAYOUT, write=True)
    return side, run_sql


def create(n: int, name: str) -> Change:
    key = f"p{n:04d}"
    return Change(action="create", key=key, match={"id": key}, set={"id": key, "name": name})


WAYS = ["changes", "columns"]
"""How a batch of plain creates is sent: as changes, or as columns."""


async def write(side: Provider, batch: list[Change], way: str) -> list[Outcome]:
    """The creates of `batch` applied, sent the `way` given (the same changes either way:
    `Creates.changes`)."""
    if way == "changes":
        return await side.apply(batch)
    creates = as_columns(batch)
    assert creates.changes == batch
    assert isinstance(side, AppliesColumns)
    return await side.apply_columns(creates)


@pytest.mark.parametrize("way", WAYS)
@pytest.mark.parametrize("provider", ["postgresql", "mysql"])
async def test_creates_go_straight_in_and_a_batch_delivered_again_changes_nothing(
    provider: SqlProvider, request: pytest.FixtureRequest, tmp_path: Path, way: str
) -> None:
    side, run_sql = await crowd(provider, request, tmp_path)
    try:
        made = await write(side, [create(n, f"N{n}") for n in range(100)], way)  # the table
        batch = [create(n, f"N{n}") for n in range(100, 300)]
        first = await write(side, batch, way)
        again = await write(side, batch, way)  # delivered again
        # Another writer added the row of one create of the next batch meanwhile.
        run_sql("INSERT INTO crowd (id, name, mail) VALUES ('p0350', 'Other', 'o@example.org')")
        meeting = await write(side, [create(n, f"N{n}") for n in range(300, 400)], way)

        assert [o.error for o in made + first + again + meeting] == [None] * 600
        rows = await read_all(side)
        assert sorted(str(r["id"]) for r in rows) == [f"p{n:04d}" for n in range(400)]
        found = {str(r["id"]): r for r in rows}
        assert found["p0350"] == {"id": "p0350", "name": "N350", "mail": "o@example.org"}
        assert int(run_sql("SELECT count(*) FROM crowd").strip()) == 400
    finally:
        await side.close()


def as_columns(batch: list[Change]) -> Creates:
    fields = tuple(batch[0].set)
    return Creates(
        key_field="id", fields=fields, columns=[[c.set[f] for c in batch] for f in fields]
    )


@pytest.mark.parametrize("provider", ["postgresql", "mysql"])
async def test_creates_sent_as_columns_go_straight_in_with_no_change_made(
    provider: SqlProvider, request: pytest.FixtureRequest, tmp_path: Path
) -> None:
    """The tests above compare something: creates sent as columns go in from the columns,
    no change made of them; delivered again, the index refuses them and their changes are
    applied as create-if-absent."""
    side, run_sql = await crowd(provider, request, tmp_path)
    assert isinstance(side, AppliesColumns)
    try:
        first = as_columns([create(n, f"N{n}") for n in range(50)])
        assert [o.error for o in await side.apply_columns(first)] == [None] * 50
        assert "changes" not in first.__dict__, "no change made"
        again = as_columns([create(n, f"N{n}") for n in range(50)])
        assert [o.error for o in await side.apply_columns(again)] == [None] * 50
        assert "changes" in again.__dict__, "applied as its changes"
        assert int(run_sql("SELECT count(*) FROM crowd").strip()) == 50
    finally:
        await side.close()


@pytest.mark.parametrize("way", WAYS)
@pytest.mark.parametrize("provider", ["postgresql", "mysql"])
async def test_a_create_the_table_refuses_fails_alone_among_creates_that_go_straight_in(
    provider: SqlProvider, request: pytest.FixtureRequest, tmp_path: Path, way: str
) -> None:
    key = "text PRIMARY KEY" if provider == "postgresql" else "varchar(20) PRIMARY KEY"
    table = f"id {key}, name text CHECK (name <> 'refused'), mail text"
    side, _ = await crowd(provider, request, tmp_path, table)
    try:
        batch = [create(n, "refused" if n == 7 else f"N{n}") for n in range(20)]
        outcomes = await write(side, batch, way)

        errors = [n for n, outcome in enumerate(outcomes) if outcome.error is not None]
        assert errors == [7]
        rows = await read_all(side)
        assert sorted(str(r["id"]) for r in rows) == [f"p{n:04d}" for n in range(20) if n != 7]
    finally:
        await side.close()


REFUSING_TRIGGER = {
    "postgresql": "CREATE FUNCTION no_refused() RETURNS trigger LANGUAGE plpgsql AS $$"
    " BEGIN IF NEW.name = 'refused' THEN RAISE EXCEPTION 'name % refused', NEW.name; END IF;"
    " RETURN NEW; END $$;"
    "CREATE TRIGGER refusing BEFORE INSERT OR UPDATE ON crowd"
    " FOR EACH ROW EXECUTE FUNCTION no_refused();",
    "mysql": "DELIMITER //\n"
    + "".join(
        f"CREATE TRIGGER refusing_{when} BEFORE {when} ON crowd FOR EACH ROW"
        " IF NEW.name = 'refused' THEN"
        " SIGNAL SQLSTATE '45000' SET MESSAGE_TEXT = 'name refused'; END IF//\n"
        for when in ("INSERT", "UPDATE")
    ),
}


@pytest.mark.parametrize("provider", ["postgresql", "mysql"])
async def test_a_change_a_trigger_refuses_fails_alone(
    provider: SqlProvider, request: pytest.FixtureRequest, tmp_path: Path
) -> None:
    """A trigger raising an error (PostgreSQL's RAISE, MySQL's SIGNAL) refuses that row
    alone: on MariaDB the whole batch failed, every other change of it with the one."""
    key = "text PRIMARY KEY" if provider == "postgresql" else "varchar(20) PRIMARY KEY"
    side, run_sql = await crowd(provider, request, tmp_path, f"id {key}, name text, mail text")
    run_sql(REFUSING_TRIGGER[provider])
    try:
        made = await side.apply([create(n, "refused" if n == 1 else f"N{n}") for n in range(3)])
        renamed = [
            Change(action="update", key=key, match={"id": key}, set={"name": name})
            for key, name in (("p0000", "refused"), ("p0002", "Renamed"))
        ]
        updated = await side.apply(renamed)

        assert [o.error is None for o in made + updated] == [True, False, True, False, True]
        assert "refused" in str(made[1].error) and "refused" in str(updated[0].error)
        rows = {str(r["id"]): r["name"] for r in await read_all(side)}
        assert rows == {"p0000": "N0", "p0002": "Renamed"}
    finally:
        await side.close()


@pytest.mark.parametrize("provider", ["postgresql", "mysql"])
async def test_an_update_respelling_its_key_applied_twice_is_applied_both_times(
    provider: SqlProvider, request: pytest.FixtureRequest, tmp_path: Path
) -> None:
    """As a batch delivered again after its runner died before recording it: the second
    delivery finds the row under the key's new spelling, and changes nothing more."""
    server = request.getfixturevalue("pg_database" if provider == "postgresql" else "my_database")
    connection = sql_connection(provider, server, tmp_path, "db")
    job = Job(
        id="respell",
        source=Endpoint(connection="hr", file="people.csv"),
        destination=Endpoint(connection="db", table="crowd"),
        objects=[
            ObjectMapping(
                keys=["id"],
                case_insensitive=True,
                fields=[FieldMap(to="id"), FieldMap(to="name")],
            )
        ],
    )
    made = [create(n, f"N{n}") for n in range(3)]
    assert [o.error for o in await apply_by_type(job, connection, made)] == [None] * 3
    respell = [
        Change(
            action="update",
            key=f"p{n:04d}",
            match={"id": f"p{n:04d}"},
            set={"id": f"P{n:04d}", "name": f"Renamed {n}"},
        )
        for n in range(3)
    ]
    first = await apply_by_type(job, connection, respell)
    again = await apply_by_type(job, connection, respell)

    assert [o.error for o in first + again] == [None] * 6
    side, _ = await crowd(provider, request, tmp_path)
    try:
        rows = sorted((str(r["id"]), str(r["name"])) for r in await read_all(side))
    finally:
        await side.close()
    assert rows == [(f"P{n:04d}", f"Renamed {n}") for n in range(3)]


@pytest.mark.parametrize("provider", ["postgresql", "mysql"])
async def test_an_update_respelling_its_key_refused_by_the_table_still_fails(
    provider: SqlProvider, request: pytest.FixtureRequest, tmp_path: Path
) -> None:
    key = "text PRIMARY KEY" if provider == "postgresql" else "varchar(20) PRIMARY KEY"
    side, _ = await crowd(
        provider, request, tmp_path, f"id {key}, name text CHECK (name <> 'refused'), mail text"
    )
    await side.close()
    server = request.getfixturevalue("pg_database" if provider == "postgresql" else "my_database")
    connection = sql_connection(provider, server, tmp_path, "db")
    job = Job(
        id="respell",
        source=Endpoint(connection="hr", file="people.csv"),
        destination=Endpoint(connection="db", table="crowd"),
        objects=[
            ObjectMapping(
                keys=["id"], case_insensitive=True, fields=[FieldMap(to="id"), FieldMap(to="name")]
            )
        ],
    )
    await apply_by_type(job, connection, [create(1, "N1")])
    refused = Change(
        action="update", key="p0001", match={"id": "p0001"}, set={"id": "P0001", "name": "refused"}
    )
    [outcome] = await apply_by_type(job, connection, [refused])
    assert outcome.error is not None and "rejected" in outcome.error


@pytest.mark.parametrize("way", WAYS)
@pytest.mark.parametrize("provider", ["postgresql", "mysql"])
async def test_first_batches_written_at_once_make_the_table_once(
    provider: SqlProvider, request: pytest.FixtureRequest, tmp_path: Path, way: str
) -> None:
    """As a runner applies a first run's batches, four at a time, into a table not there
    yet: each finds it missing, one makes it, and every batch is written."""
    server = request.getfixturevalue("pg_database" if provider == "postgresql" else "my_database")
    connection = sql_connection(provider, server, tmp_path, "db")
    endpoint = Endpoint(connection="db", table="crowd")
    sides = [await opened(connection, endpoint, LAYOUT, write=True) for _ in range(4)]
    try:
        batches = [[create(100 * b + n, f"N{n}") for n in range(100)] for b in range(4)]
        written = await asyncio.gather(
            *[write(s, b, way) for s, b in zip(sides, batches, strict=True)]
        )
        assert [o.error for outcomes in written for o in outcomes] == [None] * 400
        rows = await read_all(sides[0])
        assert len(rows) == 400
    finally:
        for side in sides:
            await side.close()


async def test_a_row_a_deferred_constraint_refuses_fails_alone(
    request: pytest.FixtureRequest, tmp_path: Path
) -> None:
    """PostgreSQL checks a DEFERRABLE INITIALLY DEFERRED constraint at COMMIT: the batch
    checks it as each statement runs, so the one refused change fails, not the batch."""
    server = request.getfixturevalue("pg_database")
    server.psql("CREATE TABLE names (name text PRIMARY KEY); INSERT INTO names VALUES ('Known')")
    side, _ = await crowd(
        "postgresql",
        request,
        tmp_path,
        "id text PRIMARY KEY, name text REFERENCES names (name) DEFERRABLE INITIALLY DEFERRED,"
        " mail text",
    )
    try:
        batch = [create(n, "Nobody" if n == 3 else "Known") for n in range(8)]
        outcomes = await side.apply(batch)
        assert [n for n, o in enumerate(outcomes) if o.error is not None] == [3]
        assert "crowd_name_fkey" in str(outcomes[3].error)
        rows = await read_all(side)
        assert sorted(str(r["id"]) for r in rows) == [f"p{n:04d}" for n in range(8) if n != 3]
    finally:
        await side.close()


COUNTED = {
    "postgresql": """
CREATE TABLE crowd (id text PRIMARY KEY, name text COLLATE "und-x-icu", mail text);
CREATE TABLE writes (id text, kind text);
CREATE FUNCTION counted() RETURNS trigger LANGUAGE plpgsql AS
  $$ BEGIN INSERT INTO writes VALUES (NEW.id, TG_OP); RETURN NEW; END $$;
CREATE TRIGGER counted AFTER INSERT OR UPDATE ON crowd
  FOR EACH ROW EXECUTE FUNCTION counted();
""",
    "mysql": """
CREATE TABLE crowd (id varchar(20) PRIMARY KEY, name text COLLATE utf8mb4_general_ci,
                    mail text);
CREATE TABLE writes (id varchar(20), kind text);
CREATE TRIGGER inserted AFTER INSERT ON crowd FOR EACH ROW
  INSERT INTO writes VALUES (NEW.id, 'INSERT');
CREATE TRIGGER updated AFTER UPDATE ON crowd FOR EACH ROW
  INSERT INTO writes VALUES (NEW.id, 'UPDATE');
""",
}


def update(n: int, **values: str) -> Change:
    key = f"p{n:04d}"
    return Change(action="update", key=key, match={"id": key}, set=dict(values))


@pytest.mark.parametrize("way", WAYS)
@pytest.mark.parametrize("provider", ["postgresql", "mysql"])
async def test_a_batch_delivered_again_writes_no_row_twice(
    provider: SqlProvider, request: pytest.FixtureRequest, tmp_path: Path, way: str
) -> None:
    """The table's triggers count every row written: creates and updates applied again
    (a runner died before recording them) write nothing more, while an update of a value
    to another case, in a column whose collation ignores case, is still written."""
    server = request.getfixturevalue("pg_database" if provider == "postgresql" else "my_database")
    run_sql: Callable[[str], str] = server.psql if provider == "postgresql" else server.sql
    run_sql(COUNTED[provider])
    side, _ = await crowd(provider, request, tmp_path)
    try:
        creates = [create(n, "Ann") for n in range(5)]
        updates = [update(n, name="ann", mail=f"m{n}") for n in range(3)]
        for batch in (creates, creates):
            assert [o.error for o in await write(side, batch, way)] == [None] * len(batch)
        for batch in (updates, updates):
            assert [o.error for o in await side.apply(batch)] == [None] * len(batch)
        writes = run_sql("SELECT kind, count(*) FROM writes GROUP BY kind ORDER BY kind")
        assert writes.split() == (
            ["INSERT|5", "UPDATE|3"] if provider == "postgresql" else ["INSERT", "5", "UPDATE", "3"]
        )
        rows = {str(r["id"]): r["name"] for r in await read_all(side)}
        assert rows == {f"p{n:04d}": "ann" if n < 3 else "Ann" for n in range(5)}
    finally:
        await side.close()


@pytest.mark.parametrize("way", WAYS)
@pytest.mark.parametrize("provider", ["postgresql", "mysql"])
async def test_names_holding_a_percent_sign_take_creates_straight_in_and_are_looked_up(
    provider: SqlProvider, request: pytest.FixtureRequest, tmp_path: Path, way: str
) -> None:
    """A table and columns named `share%` and `id%`: the creates go straight in, and a key
    is looked up. The driver formats a statement with its parameters, `%s` one of them: on
    MariaDB the multi-row INSERT failed with a TypeError, every batch of creates with it."""
    server = request.getfixturevalue("pg_database" if provider == "postgresql" else "my_database")
    connection = sql_connection(provider, server, tmp_path, "db")
    layout = Layout(keys=("id%",), fields=("id%", "share%"))
    side = await opened(connection, Endpoint(connection="db", table="t%"), layout, write=True)
    try:
        batch = [
            Change(action="create", key=key, match={"id%": key}, set={"id%": key, "share%": share})
            for key, share in (("a", "10%"), ("b", "%s"), ("c", "100 %"))
        ]
        if way == "changes":
            outcomes = await side.apply(batch)
        else:
            assert isinstance(side, AppliesColumns)
            fields = ("id%", "share%")
            columns = [[change.set[name] for change in batch] for name in fields]
            outcomes = await side.apply_columns(
                Creates(key_field="id%", fields=fields, columns=columns)
            )
        assert [o.error for o in outcomes] == [None] * 3
        rows = {str(r["id%"]): r["share%"] for r in await read_all(side)}
        assert rows == {"a": "10%", "b": "%s", "c": "100 %"}
        assert isinstance(side, KeyReader)
        found = [record async for some in side.read_keys("id%", ["b"], 10) for record in some]
        assert found == [{"id%": "b", "share%": "%s"}]
    finally:
        await side.close()
