"""A first run whose batches of plain creates travel as columns (schemas/work.py `Creates`)
ends as the same run whose batches travel as lists of changes: the destination's rows,
the run's statistics and each change's outcome in the history — also where the table
refuses some rows and a hook vetoes some creates."""

from __future__ import annotations

import asyncio
import sqlite3
from collections.abc import Callable
from pathlib import Path

import openpyxl
import pytest

from schemas.events import RunFinished
from schemas.plan import RunStats
from services.cli.client import Session
from services.cli.watch import follow_run
from services.runner import plans
from services.runner.planning import low_memory, spill
from tests.mysql_server import Server as MariaDb
from tests.postgresql_server import Server as Postgresql
from tests.sql_servers import SqlProvider, connection_toml

from .conftest import JOB_ID, Files, RunServices, apply_files
from .history import changes_of, recorded
from .test_history import sent_as_columns

COUNT = 30
REFUSED = ("E000004", "E000017")
"""Refused by the table's CHECK constraint."""
VETOED = "E000011"


def table_with_a_check(db: Path, strict: bool) -> None:
    """The destination made beforehand: typed columns (of a STRICT table, or not), a CHECK
    that refuses two people's department, a UNIQUE index on the key and another on the
    mail."""
    db.parent.mkdir(parents=True, exist_ok=True)
    with sqlite3.connect(db) as conn:
        listed = ", ".join(f"'{key}'" for key in REFUSED)
        conn.execute(
            "CREATE TABLE people (employee_id TEXT NOT NULL, given_name TEXT, surname TEXT,"
            f" mail TEXT, department TEXT CHECK (employee_id NOT IN ({listed})), groups TEXT)"
            + (" STRICT" if strict else "")
        )
        conn.execute("CREATE UNIQUE INDEX people_key ON people (employee_id)")
        conn.execute("CREATE UNIQUE INDEX people_mail ON people (mail)")


def rows_of(db: Path) -> list[tuple[object, ...]]:
    with sqlite3.connect(db) as conn:
        return sorted(conn.execute("SELECT * FROM people").fetchall(), key=repr)


@pytest.mark.parametrize(
    ("run_size", "strict"),
    [(50_000, False), (7, False), (50_000, True)],
    ids=["in-memory-run", "runs-on-disk", "strict-table"],
)
async def test_a_first_run_sent_as_columns_fails_and_vetoes_the_records_a_run_sent_as_changes_does(
    files: Files,
    session: Session,
    services: RunServices,
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
    run_size: int,
    strict: bool,
) -> None:
    monkeypatch.setattr(spill, "RUN_SIZE", run_size)
    monkeypatch.setattr(low_memory, "LEAN_ABOVE", -1)  # planned with its creates on disk
    monkeypatch.setenv("IDSYNC_TEST_HOOKS_LOG", str(tmp_path / "hooks.log"))
    monkeypatch.setenv("IDSYNC_TEST_HOOKS_REFUSE", VETOED)
    rows = files.write(COUNT, batch_size=7, extra='hooks = "tests.plugins.scripted:Audit"')
    keys = sorted(row["employee_id"] for row in rows)
    assert {*REFUSED, VETOED} <= set(keys), keys[:5]
    await apply_files(session, files)
    found: list[tuple[RunStats, list[tuple[object, ...]], list[tuple[object, ...]]]] = []
    async with services():
        for columns in (True, False):
            if not columns:
                monkeypatch.setattr(plans, "as_columns", lambda entries, values=None: None)
            for suffix in ("", "-wal", "-shm"):  # a first run each time
                files.db.with_name(files.db.name + suffix).unlink(missing_ok=True)
            table_with_a_check(files.db, strict)
            run_id, end = await follow_run(session, JOB_ID, None)
            assert isinstance(end, RunFinished), end
            await recorded(session, run_id)
            history: list[tuple[object, ...]] = sorted(
                (r.key, r.action, r.field, r.new, r.outcome, r.error)
                for r in await changes_of(session, run_id)
            )
            sent = await sent_as_columns(session, run_id)
            assert any(sent) == columns, sent
            found.append((end.stats, rows_of(files.db), history))
    with_columns, with_changes = found
    assert with_columns[0] == with_changes[0]
    assert with_columns[0].created == COUNT - 3 and with_columns[0].failed == 3
    assert with_columns[1] == with_changes[1]
    assert len(with_columns[1]) == COUNT - 3
    assert with_columns[2] == with_changes[2]


def csv_destination(files: Files) -> Callable[[], object]:
    connections = files.connections.read_text()
    at = connections.index("[db]")
    files.connections.write_text(connections[:at] + '[db]\nprovider = "csv"\ndirectory = "out"\n')
    files.job.write_text(files.job.read_text().replace('table = "people"', 'file = "people.csv"'))
    out = files.folder / "out" / "people.csv"
    out.parent.mkdir(parents=True, exist_ok=True)

    def written() -> object:
        header, *lines = out.read_text().splitlines()
        out.unlink()
        return header, sorted(lines)  # batches are appended as they are applied

    return written


def excel_destination(files: Files) -> Callable[[], object]:
    connections = files.connections.read_text()
    at = connections.index("[db]")
    files.connections.write_text(connections[:at] + '[db]\nprovider = "excel"\ndirectory = "out"\n')
    files.job.write_text(
        files.job.read_text().replace('table = "people"', 'file = "people.xlsx", sheet = "People"')
    )
    out = files.folder / "out" / "people.xlsx"
    out.parent.mkdir(parents=True, exist_ok=True)

    def written() -> object:
        book = openpyxl.load_workbook(out, read_only=True)
        header, *rows = [list(row) for row in book["People"].iter_rows(values_only=True)]
        book.close()
        out.unlink()
        return header, sorted(rows, key=repr)  # staged batches are written as they came

    return written


def sql_destination(
    files: Files, kind: SqlProvider, server: Postgresql | MariaDb, query: Callable[[str], object]
) -> Callable[[], object]:
    """The job's destination made a table `people` on `server` (`kind`: its provider);
    what it holds read by `query`, then dropped for the next run."""
    connections = files.connections.read_text()
    at = connections.index("[db]")
    db = connection_toml(kind, "db", server, files.folder)
    files.connections.write_text(connections[:at] + db)

    def written() -> object:
        rows = query("SELECT * FROM people ORDER BY employee_id")
        query("DROP TABLE people")
        return rows

    return written


@pytest.mark.parametrize("destination", ["csv", "excel", "postgresql", "mariadb"])
async def test_a_first_run_sent_as_columns_writes_what_a_run_sent_as_changes_writes(
    files: Files,
    session: Session,
    services: RunServices,
    monkeypatch: pytest.MonkeyPatch,
    request: pytest.FixtureRequest,
    destination: str,
) -> None:
    """Into a destination other than SQLite (a file or a workbook: the changes made of the
    columns, applied as any batch's; PostgreSQL and MariaDB: rows made of the columns, no
    change made): the same file, workbook or table, the same statistics and history."""
    monkeypatch.setattr(low_memory, "LEAN_ABOVE", -1)  # planned with its creates on disk
    files.write(COUNT, batch_size=7)
    if destination == "csv":
        written = csv_destination(files)
    elif destination == "excel":
        written = excel_destination(files)
    elif destination == "postgresql":
        pg: Postgresql = request.getfixturevalue("pg_database")
        written = sql_destination(files, "postgresql", pg, pg.psql)
    else:
        my: MariaDb = request.getfixturevalue("my_database")
        written = sql_destination(files, "mysql", my, my.sql)
    await apply_files(session, files)
    found: list[tuple[RunStats, object, list[tuple[object, ...]]]] = []
    async with services():
        for columns in (True, False):
            if not columns:
                monkeypatch.setattr(plans, "as_columns", lambda entries, values=None: None)
            run_id, end = await follow_run(session, JOB_ID, None)
            assert isinstance(end, RunFinished), end
            await recorded(session, run_id)
            history: list[tuple[object, ...]] = sorted(
                (r.key, r.action, r.field, r.new, r.outcome, r.error)
                for r in await changes_of(session, run_id)
            )
            sent = await sent_as_columns(session, run_id)
            assert any(sent) == columns, sent
            found.append((end.stats, written(), history))
    with_columns, with_changes = found
    assert with_columns[0].created == COUNT and with_columns[0].failed == 0
    assert with_columns == with_changes


async def test_a_first_run_with_generated_passwords_sent_as_columns_gives_each_one(
    files: Files, session: Session, services: RunServices, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Creates given a generated password as they are applied: sent as columns, each is
    written with its password, as when sent as lists of changes."""
    monkeypatch.setattr(low_memory, "LEAN_ABOVE", -1)
    files.write(COUNT, batch_size=7)
    files.job.write_text(
        files.job.read_text().replace(
            '  { to = "groups", delimiter = "|" },\n',
            '  { to = "groups", delimiter = "|" },\n'
            '  { to = "password", transform = "password", create_only = true },\n',
        )
    )
    await apply_files(session, files)
    found: list[tuple[RunStats, list[tuple[object, ...]]]] = []
    async with services():
        for columns in (True, False):
            if not columns:
                monkeypatch.setattr(plans, "as_columns", lambda entries, values=None: None)
            for suffix in ("", "-wal", "-shm"):  # a first run each time
                files.db.with_name(files.db.name + suffix).unlink(missing_ok=True)
            run_id, end = await follow_run(session, JOB_ID, None)
            assert isinstance(end, RunFinished), end
            sent = await sent_as_columns(session, run_id)
            assert any(sent) == columns, sent
            with sqlite3.connect(files.db) as conn:
                written = conn.execute("SELECT * FROM people ORDER BY employee_id").fetchall()
                names = [d[0] for d in conn.execute("SELECT * FROM people").description]
            at = names.index("password")
            assert all(len(str(row[at])) == 16 for row in written), written[:2]
            found.append((end.stats, [row[:at] + row[at + 1 :] for row in written]))
    assert found[0][0].created == COUNT
    assert found[0] == found[1]


STALLED = {
    "postgresql": """
CREATE TABLE people (employee_id text, given_name text, surname text, mail text,
                     department text, groups text);
CREATE UNIQUE INDEX people_idsync_key ON people (employee_id);
CREATE SEQUENCE stalls;
CREATE FUNCTION stall() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  -- The first write of this row, once: a sequence's value is not rolled back.
  IF NEW.employee_id = '{key}' AND nextval('stalls') = 1 THEN PERFORM pg_sleep(30); END IF;
  RETURN NEW;
END $$;
CREATE TRIGGER stall BEFORE INSERT ON people FOR EACH ROW EXECUTE FUNCTION stall();
""",
    "mysql": """
CREATE TABLE people (employee_id varchar(20), given_name text, surname text, mail text,
                     department text, `groups` text, UNIQUE KEY idsync_key (employee_id));
CREATE SEQUENCE stalls;
DELIMITER //
CREATE TRIGGER stall BEFORE INSERT ON people FOR EACH ROW BEGIN
  IF NEW.employee_id = '{key}' AND NEXTVAL(stalls) = 1 THEN SET @slept = SLEEP(30); END IF;
END//
DELIMITER ;
""",
}
STALLED_NOW = {
    "postgresql": "SELECT pid FROM pg_stat_activity WHERE wait_event = 'PgSleep'",
    "mysql": "SELECT id FROM information_schema.processlist WHERE state = 'User sleep'",
}
"""The connection whose write stalls on the row."""
ENDED = {
    "postgresql": "SELECT pg_terminate_backend({id})",
    "mysql": "KILL CONNECTION {id}",
}
STALLS = {
    "postgresql": "SELECT last_value FROM stalls",
    "mysql": "SELECT NEXTVAL(stalls) - 1",
}
"""How many times the stalled row was written (its sequence's value)."""


@pytest.mark.parametrize("destination", ["postgresql", "mariadb"])
async def test_a_first_run_whose_server_connection_is_lost_mid_batch_writes_each_row_once(
    files: Files,
    session: Session,
    services: RunServices,
    monkeypatch: pytest.MonkeyPatch,
    request: pytest.FixtureRequest,
    destination: str,
) -> None:
    """A batch of creates sent as columns, its write stalled on one row; the server ends
    that connection (as a restart or a failover does): the batch is retried on another,
    and the run ends with every person written once, none failed."""
    monkeypatch.setattr(low_memory, "LEAN_ABOVE", -1)  # planned with its creates on disk
    rows = files.write(COUNT, batch_size=7)
    stalled = sorted(row["employee_id"] for row in rows)[9]  # in the second batch
    kind: SqlProvider = "postgresql" if destination == "postgresql" else "mysql"
    server: Postgresql | MariaDb = request.getfixturevalue(
        "pg_database" if kind == "postgresql" else "my_database"
    )
    run_sql: Callable[[str], str] = server.psql if isinstance(server, Postgresql) else server.sql
    sql_destination(files, kind, server, run_sql)
    run_sql(STALLED[kind].replace("{key}", stalled))
    await apply_files(session, files)
    async with services():
        running = asyncio.create_task(follow_run(session, JOB_ID, None))
        for _ in range(600):
            if found := run_sql(STALLED_NOW[kind]).split():
                break
            await asyncio.sleep(0.05)
        else:
            pytest.fail("no batch stalled on its row")
        run_sql(ENDED[kind].format(id=found[-1]))
        run_id, end = await asyncio.wait_for(running, 120)
        assert isinstance(end, RunFinished), end
        sent = await sent_as_columns(session, run_id)
    assert all(sent), sent
    assert (end.stats.created, end.stats.failed) == (COUNT, 0), end.stats
    written = run_sql("SELECT employee_id FROM people ORDER BY employee_id").split()
    assert written == sorted(row["employee_id"] for row in rows)
    assert run_sql(STALLS[kind]).split()[-1] == "2", "the stalled batch was tried once more"


@pytest.mark.parametrize("columns", [True, False], ids=["sent-as-columns", "sent-as-changes"])
async def test_a_hook_that_changes_a_create_changes_nothing_written(
    files: Files,
    session: Session,
    services: RunServices,
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
    columns: bool,
) -> None:
    """A hook reads a copy of each change: a value it changes is not written, whether the
    batch travels as columns or as changes — what is written is the plan approved."""
    monkeypatch.setattr(low_memory, "LEAN_ABOVE", -1)  # planned with its creates on disk
    if not columns:
        monkeypatch.setattr(plans, "as_columns", lambda entries, values=None: None)
    monkeypatch.setenv("IDSYNC_TEST_HOOKS_LOG", str(tmp_path / "hooks.log"))
    monkeypatch.setenv("IDSYNC_TEST_HOOKS_ALTER", "yes")
    files.write(COUNT, batch_size=7, extra='hooks = "tests.plugins.scripted:Audit"')
    await apply_files(session, files)
    async with services():
        run_id, end = await follow_run(session, JOB_ID, None)
        assert isinstance(end, RunFinished), end
        assert any(await sent_as_columns(session, run_id)) == columns
    assert end.stats.created == COUNT
    written = rows_of(files.db)
    assert len(written) == COUNT
    assert not [row for row in written if "Altered" in row or "altered" in str(row)], written
    assert (tmp_path / "hooks.log").read_text().count("before_create") == COUNT
