"""The shapes of tests/integration/test_matrix.py — one type, several types, references,
little memory, creates spilled, keys, incremental; create, update, delete, disable, move,
restore, a record that fails, leavers — with the source a PostgreSQL or MariaDB table
instead of CSV files (a timestamp column as the change field): through the services,
the preview plans what the run applies (the same hash), a record that fails holds its
object, and the lifecycle goes as from a file."""

from __future__ import annotations

from pathlib import Path

import pytest

from core.checks.job import check_job
from services.cli.client import Session
from services.common.definitions import load_connections, load_job
from services.common.settings import Settings
from services.providers import FACTS
from services.runner.planning import spill
from tests.mysql_server import Server as MariaDb
from tests.postgresql_server import Server as Postgresql
from tests.sql_servers import SqlProvider, connection_toml, on_one_server

from . import test_matrix as matrix
from .test_matrix import (
    test_an_incremental_run_looks_up_only_its_objects_restores_and_holds_failures,
    test_every_full_shape_plans_as_previewed_holds_failures_and_keeps_its_lifecycle,
    test_leavers_by_status_are_disabled_once_and_restored_in_every_shape,
)

__all__ = [
    "test_an_incremental_run_looks_up_only_its_objects_restores_and_holds_failures",
    "test_every_full_shape_plans_as_previewed_holds_failures_and_keeps_its_lifecycle",
    "test_leavers_by_status_are_disabled_once_and_restored_in_every_shape",
]

COLUMNS = {
    "postgresql": "id text, name text, dept text, manager text, at timestamptz, status text,"
    " ou text",
    "mysql": "id VARCHAR(10), name TEXT, dept TEXT, manager TEXT, at TIMESTAMP(6) NULL,"
    " status TEXT, ou TEXT",
}


class SqlScenario(matrix.Scenario):
    """The scenario with its people and groups in tables of a SQL server."""

    def __init__(
        self,
        folder: Path,
        session: Session,
        settings: Settings,
        shape: str,
        provider: str,
        server: Postgresql | MariaDb,
    ) -> None:
        super().__init__(folder, session, settings, shape)
        self.provider, self.server = provider, server

    def sql(self, statements: str) -> None:
        if isinstance(self.server, MariaDb):
            self.server.sql(statements)
        else:
            self.server.psql(statements)

    async def apply(self, absence: str, leavers: str = "", placing: str = "") -> None:
        await super().apply(absence, leavers, placing)
        connections = self.folder / "connections.toml"
        text = connections.read_text()
        plugin = text[text.index("[dir]") :]
        side: SqlProvider = "postgresql" if self.provider == "postgresql" else "mysql"
        hr = connection_toml(side, "hr", self.server, self.folder / "secrets")
        connections.write_text(hr + "\n" + plugin)
        job_file = self.folder / "job.toml"
        made = matrix.job_toml(self.shape, absence, leavers, placing)
        made = made.replace('file = "people.csv"', 'table = "people"')
        job_file.write_text(made.replace('file = "groups.csv"', 'table = "groups"'))
        for connection in load_connections(connections):
            await self.session.store.put_connection(connection)
        job = load_job(job_file)
        check_job(job, {c.id: c for c in await self.session.store.connections()}, FACTS)
        await self.session.store.put_job(job)

    def write(self, rows: list[matrix.Person]) -> None:
        def quoted(value: str) -> str:
            return "'" + value.replace("'", "''") + "'"

        def at(value: str) -> str:
            return value.replace("T", " ").removesuffix("Z")

        people = ", ".join(
            "("
            + ", ".join(
                quoted(at(row[c]) if c == "at" else row[c])
                for c in ("id", "name", "dept", "manager", "at", "status", "ou")
            )
            + ")"
            for row in rows
        )
        groups = "('g1', 'Group g1'), ('g2', 'Group g2')"
        self.sql(
            "DROP TABLE IF EXISTS people; DROP TABLE IF EXISTS `groups`;"
            if self.provider == "mysql"
            else "DROP TABLE IF EXISTS people; DROP TABLE IF EXISTS groups;"
        )
        quote = "`" if self.provider == "mysql" else '"'
        self.sql(
            f"CREATE TABLE people ({COLUMNS[self.provider]});"
            + (f"INSERT INTO people VALUES {people};" if rows else "")
            + f"CREATE TABLE {quote}groups{quote} (id text, title text);"
            + f"INSERT INTO {quote}groups{quote} VALUES {groups};"
        )


@pytest.fixture(params=["postgresql", "mysql"])
def provider(request: pytest.FixtureRequest) -> str:
    on_one_server(request, str(request.param))  # before any server is asked for
    return str(request.param)


@pytest.fixture
def scenario(
    provider: str,  # first: a case run on the other server is skipped before any set-up
    tmp_path: Path,
    session: Session,
    settings: Settings,
    request: pytest.FixtureRequest,
    monkeypatch: pytest.MonkeyPatch,
) -> SqlScenario:
    if request.param == "spilled":
        monkeypatch.setattr(spill, "RUN_SIZE", 1)
    server = request.getfixturevalue("pg_database" if provider == "postgresql" else "my_database")
    return SqlScenario(tmp_path / "job", session, settings, request.param, provider, server)
