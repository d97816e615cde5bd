"""A PostgreSQL or MariaDB table of typed columns as the destination, through the
services, in every shape — one type, references (managers), little memory, creates
spilled, runs scoped to keys, incremental runs: the preview plans what the run applies
(the same hash), a record that fails holds its row, a row absent from the source is
deleted (never in a run scoped to keys or incremental), and a re-run writes nothing."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from core.checks.job import check_job
from services.cli.client import Session
from services.common.definitions import load_connections, load_job
from services.common.settings import Settings
from services.providers import FACTS
from services.runner.planning import low_memory, spill, unless_same
from tests.mysql_server import Server as MariaDb
from tests.postgresql_server import Server as Postgresql
from tests.sql_servers import SqlProvider, connection_toml, on_one_server

from . import test_matrix as matrix
from .conftest import RunServices

SHAPES = ["one-type", "resolve", "lean", "spilled", "key-scoped", "incremental"]
"""(Several object types need a directory as the destination: `job apply` refuses them for
a table, docs/references.md.)"""
TEXT_TABLES = {
    "postgresql": "CREATE TABLE people (id text PRIMARY KEY, name text, dept text, at text,"
    " manager text);",
    "mysql": "CREATE TABLE people (id VARCHAR(10) PRIMARY KEY, name TEXT, dept TEXT, at TEXT,"
    " manager TEXT);",
}
TABLES = {
    "postgresql": (
        "CREATE TABLE people (id varchar(10) PRIMARY KEY, name text, dept char(1),"
        " at timestamptz, manager varchar(10));"
    ),
    "mysql": (
        "CREATE TABLE people (id VARCHAR(10) PRIMARY KEY, name TEXT, dept CHAR(1),"
        " at TIMESTAMP(6) NULL, manager VARCHAR(10));"
    ),
}


def job_toml(shape: str) -> str:
    manager = (
        '  { to = "manager", resolve = { type = "user", by = "id" } },\n'
        if shape == "resolve"
        else '  { to = "manager" },\n'  # every column a field: unless_same.py may compare
    )
    changes = 'changes = { field = "at" }\n' if shape == "incremental" else ""
    return f"""\
id = "{matrix.JOB}"
source = {{ connection = "hr", file = "people.csv" }}
destination = {{ connection = "dir", table = "people" }}
safety = {{ max_percent = 100 }}
{changes}
[[objects]]
type = "user"
keys = ["id"]
on_destination_only = "delete"
fields = [
  {{ to = "id" }},
  {{ to = "name" }},
  {{ to = "dept", transform = {matrix.DEPARTMENTS} }},
  {{ to = "at" }},
{manager}]
"""


class Destination(matrix.Scenario):
    def __init__(
        self,
        folder: Path,
        session: Session,
        settings: Settings,
        shape: str,
        provider: SqlProvider,
        server: Postgresql | MariaDb,
    ) -> None:
        super().__init__(folder, session, settings, shape)
        self.provider, self.server = provider, server
        self.text = False
        self.compared = 0
        """Re-runs planned by comparing each row's text first (planning/unless_same.py)."""

    def sql(self, statements: str) -> str:
        if isinstance(self.server, MariaDb):
            return self.server.sql(statements)
        return self.server.psql(statements)

    async def apply(self, absence: str = "delete", leavers: str = "", placing: str = "") -> None:
        self.sql((TEXT_TABLES if self.text else TABLES)[self.provider])
        connections = self.folder / "connections.toml"
        connections.write_text(
            '[hr]\nprovider = "csv"\ndirectory = "data"\ndelimiter = ","\n\n'
            + connection_toml(self.provider, "dir", self.server, self.folder / "secrets")
        )
        (self.folder / "job.toml").write_text(job_toml(self.shape))
        for connection in load_connections(connections):
            await self.session.store.put_connection(connection)
        job = load_job(self.folder / "job.toml")
        check_job(job, {c.id: c for c in await self.session.store.connections()}, FACTS)
        await self.session.store.put_job(job)

    def write(self, rows: list[matrix.Person]) -> None:
        matrix.write_csv(self.data / "people.csv", list(matrix.person(0)), rows)

    def rows(self) -> dict[str, str]:
        """Each person's row as the server's own client prints it."""
        printed = self.sql("SELECT id, name, dept, manager FROM people ORDER BY id")
        lines = [line.replace("|", "\t") for line in printed.splitlines() if line.strip()]
        return {line.split("\t")[0]: line for line in lines}


@pytest.fixture(params=["postgresql", "mysql"])
def provider(request: pytest.FixtureRequest) -> str:
    on_one_server(request, str(request.param))  # before any server is asked for
    return str(request.param)


@pytest.fixture(params=["typed", "text"])
def columns(request: pytest.FixtureRequest) -> str:
    """Typed columns, or text alone (a re-run then compares each row's text first:
    planning/unless_same.py)."""
    return str(request.param)


@pytest.fixture
def destination(
    provider: SqlProvider,  # first: a case run on the other server is skipped before any set-up
    tmp_path: Path,
    session: Session,
    settings: Settings,
    request: pytest.FixtureRequest,
    monkeypatch: pytest.MonkeyPatch,
    columns: str,
) -> Destination:
    if request.param in ("lean", "spilled"):
        monkeypatch.setattr(low_memory, "LEAN_ABOVE", -1)
    if request.param == "spilled":
        monkeypatch.setattr(spill, "RUN_SIZE", 1)
    server = request.getfixturevalue("pg_database" if provider == "postgresql" else "my_database")
    made = Destination(tmp_path / "job", session, settings, request.param, provider, server)
    made.text = columns == "text"
    compare = unless_same.compare

    def noted(*args: Any) -> Any:
        found = compare(*args)
        made.compared += found is not None
        return found

    monkeypatch.setattr(unless_same, "compare", noted)
    return made


@pytest.mark.parametrize("destination", SHAPES, indirect=True)
async def test_a_typed_table_plans_as_previewed_holds_failures_and_converges(
    destination: Destination, services: RunServices, capsys: pytest.CaptureFixture[str]
) -> None:
    shape = destination.shape
    keys = ["p1", "p2", "p3", "p7"] if shape == "key-scoped" else None
    changed: dict[str, Any] = {"changed_only": shape == "incremental"}
    await destination.apply()
    async with services():
        destination.write(matrix.people(1, 2, 3, 4, 5, 6))
        first = await destination.run(capsys)
        assert first.stats.created == 6, first.stats
        assert (await destination.run(capsys)).stats.written == 0, "a phantom update"
        before = destination.rows()

        # p1 changes department, p2 leaves, p3's department has no entry (it fails: its
        # row must stay as it is), p7 joins.
        rows = matrix.people(1, 3, 4, 5, 6, 7)
        rows[0].update(dept="IT", at=matrix.NEW)
        rows[1].update(dept="Legal", at=matrix.NEW)
        rows[5].update(at=matrix.NEW)
        destination.write(rows)
        second = await destination.run(capsys, keys, **changed)
        after = destination.rows()
        acted_on_absence = keys is None and shape != "incremental"
        assert (second.stats.created, second.stats.failed) == (1, 1), second.stats
        assert second.stats.updated >= 1, second.stats
        assert second.stats.deleted == (1 if acted_on_absence else 0), second.stats
        assert ("p2" in after) != acted_on_absence
        assert after["p3"] == before["p3"], "a record that failed had its row changed"
        again = await destination.run(capsys, keys, **changed)
        assert again.stats.written == 0 and again.stats.failed == 1, again.stats
    if destination.text and shape == "one-type":
        assert destination.compared, "the rows' texts were never compared first"
