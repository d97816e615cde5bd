"""The SQL providers' connection pools against the real servers the suite starts
(tests/postgresql_server.py, tests/mysql_server.py): batches, each on a provider opened
for it as a runner opens it, share a few connections the server sees stay open, never
more than `pool_size`, none left once the pools are closed or their event loop ends; a
read under way never keeps a batch from the pool's last connection; a password rotated
in its secret file is used by the next batch, the old pool's connection closed; and a
server gone in the middle of a run (every connection broken, new ones refused, then
back) still ends with every row written once."""

from __future__ import annotations

import asyncio
import dataclasses
import os
import time
from collections.abc import AsyncGenerator, Callable
from pathlib import Path
from typing import Any, cast

import asyncmy
import asyncpg
import msgspec
import pytest

from core.errors import BadInput
from schemas.connections import Connection, MysqlConnection, PostgresqlConnection
from schemas.events import RunBatchApplied, RunDeliveryFailed, RunFailed, RunFinished
from schemas.jobs import Endpoint
from schemas.plan import Change
from schemas.subjects import job_events
from schemas.values import Record
from services.cli.client import Session
from services.providers.base import Layout
from services.providers.sql.pools import close_pools
from tests.cut_proxy import CutProxy
from tests.sql_servers import SqlProvider, connection_toml, opened, password_file, sql_connection

from .conftest import JOB_ID, Files, RunServices, apply_files

LAYOUT = Layout(keys=("id",), fields=("id", "name"))


@dataclasses.dataclass
class Db:
    """The test's database on one of the servers, and what the server says of it."""

    provider: SqlProvider
    server: Any  # tests.postgresql_server.Server or tests.mysql_server.Server

    def run(self, sql: str) -> str:
        """SQL run with the server's own client, in the test's database."""
        if self.provider == "postgresql":
            return str(self.server.psql(sql))
        return str(self.server.sql(sql, self.server.database))

    async def backends(self) -> set[int]:
        """The server's sessions on the test's database that idsync opened (the
        connections made to ask left out)."""
        s = self.server
        if self.provider == "postgresql":
            conn = await asyncpg.connect(s.dsn())
            try:
                rows = await conn.fetch(
                    "SELECT pid FROM pg_stat_activity "
                    "WHERE datname = current_database() AND application_name = 'idsync'"
                )
            finally:
                await conn.close()
            return {int(row[0]) for row in rows}
        # On no database: this connection, and those asked before, are never counted.
        my = await asyncmy.connect(host=s.host, port=s.port, user=s.user, password=s.password)
        try:
            async with my.cursor() as cursor:
                await cursor.execute(
                    "SELECT ID FROM information_schema.PROCESSLIST WHERE DB = %s", (s.database,)
                )
                found = await cursor.fetchall()
        finally:
            my.close()
        return {int(row[0]) for row in found}

    async def backends_once(self, settled: Callable[[set[int]], bool]) -> set[int]:
        """The sessions once `settled` holds for them (a closed session leaves the
        server's list a moment after the client has gone), or as they are after 15 s."""
        deadline = time.monotonic() + 15
        while not settled(seen := await self.backends()) and time.monotonic() < deadline:
            await asyncio.sleep(0.05)
        return seen

    def rows(self, table: str = "people", key: str = "id") -> tuple[int, int]:
        """(rows, distinct keys) of the table."""
        out = self.run(f"SELECT count(*), count(DISTINCT {key}) FROM {table}")
        count, distinct = out.replace("|", "\t").split()
        return int(count), int(distinct)


@pytest.fixture(params=["postgresql", "mysql"])
def db(request: pytest.FixtureRequest) -> Db:
    provider: SqlProvider = request.param
    fixture = "pg_database" if provider == "postgresql" else "my_database"
    return Db(provider, request.getfixturevalue(fixture))


def sized(connection: PostgresqlConnection | MysqlConnection, **fields: object) -> Any:
    """The connection with other settings (`pool_size`)."""
    return msgspec.convert({**msgspec.to_builtins(connection), **fields}, Connection)


def batch(first: int, count: int) -> list[Change]:
    return [
        Change(
            action="create", key=f"k{i}", match={"id": f"k{i}"}, set={"id": f"k{i}", "name": "n"}
        )
        for i in range(first, first + count)
    ]


async def apply(connection: PostgresqlConnection | MysqlConnection, changes: list[Change]) -> None:
    """One batch on a provider opened for it and closed after, as a runner applies it."""
    side = await opened(connection, Endpoint(connection="db", table="people"), LAYOUT, write=True)
    try:
        outcomes = await side.apply(changes)
    finally:
        await side.close()
    assert [outcome.error for outcome in outcomes] == [None] * len(changes)


async def test_batches_share_the_pools_connections_and_none_is_left_once_closed(
    db: Db, tmp_path: Path
) -> None:
    connection = sized(sql_connection(db.provider, db.server, tmp_path, "db"), pool_size=2)
    try:
        # One batch at a time: each on the connection the one before used.
        after_each = []
        for at in range(5):
            await apply(connection, batch(at * 20, 20))
            after_each.append(await db.backends())
        assert len(after_each[0]) == 1 and all(seen == after_each[0] for seen in after_each)

        # Four at once, as a runner applies them, on at most pool_size connections.
        at_once = asyncio.Semaphore(4)
        during: list[set[int]] = []

        async def one(at: int) -> None:
            async with at_once:
                await apply(connection, batch(at * 20, 20))
                during.append(await db.backends())

        await asyncio.gather(*(one(at) for at in range(5, 17)))
        assert max(len(seen) for seen in during) <= 2
        side = await opened(connection, Endpoint(connection="db", table="people"), LAYOUT)
        read = [record async for part in side.read(100) for record in part]
        await side.close()
        assert len(read) == 340 and db.rows() == (340, 340)
        assert 1 <= len(await db.backends()) <= 2  # kept open for the next batch
    finally:
        await close_pools()  # as the runner's stop does
    assert await db.backends_once(lambda seen: not seen) == set()


def test_an_event_loop_that_ends_leaves_no_connection_open(db: Db, tmp_path: Path) -> None:
    """A process (a command, a test) whose loop ends without closing its pools."""
    connection = sql_connection(db.provider, db.server, tmp_path, "db")
    asyncio.run(apply(connection, batch(0, 10)))
    assert asyncio.run(db.backends_once(lambda seen: not seen)) == set()
    assert db.rows() == (10, 10)


async def test_a_read_under_way_never_keeps_a_batch_from_its_connection(
    db: Db, tmp_path: Path
) -> None:
    """One connection in the pool: a read of the table, half done (as a planner reads
    both sides of a job on one database at once), and a batch written meanwhile."""
    connection = sized(sql_connection(db.provider, db.server, tmp_path, "db"), pool_size=1)
    try:
        await apply(connection, batch(0, 30))
        side = await opened(connection, Endpoint(connection="db", table="people"), LAYOUT)
        reading = cast("AsyncGenerator[list[Record], None]", side.read(10))
        try:
            first = await anext(reading)
            # Not waiting for the read (a minute: the time it would have before failing).
            await asyncio.wait_for(apply(connection, batch(30, 10)), 60)
            rest = [record async for part in reading for record in part]
        finally:
            await reading.aclose()  # its connection back, whatever happened
            await side.close()
        assert len(first) + len(rest) == 30 and db.rows() == (40, 40)
    finally:
        await close_pools()
    assert await db.backends_once(lambda seen: not seen) == set()


async def test_a_password_rotated_in_its_file_is_used_by_the_next_batch(
    db: Db, tmp_path: Path
) -> None:
    user = f"idsync_pool_{os.getpid()}"
    if db.provider == "postgresql":
        login = (
            f"CREATE ROLE {user} LOGIN PASSWORD 'first-pw'; GRANT ALL ON SCHEMA public TO {user}"
        )
        change = f"ALTER ROLE {user} PASSWORD 'second-pw'"
        drop = f"DROP OWNED BY {user}; DROP ROLE {user}"
    else:
        name = db.server.database
        login = f"CREATE USER '{user}'@'%' IDENTIFIED BY 'first-pw'; "
        login += f"GRANT ALL ON `{name}`.* TO '{user}'@'%'"
        change = f"ALTER USER '{user}'@'%' IDENTIFIED BY 'second-pw'"
        drop = f"DROP USER '{user}'@'%'"
    db.run(login)
    try:
        connection = sql_connection(db.provider, db.server, tmp_path, "db", user=user)
        secret = password_file(db.provider, db.server, tmp_path)
        secret.write_text("first-pw\n")
        await apply(connection, batch(0, 10))
        [before] = await db.backends()

        db.run(change)
        secret.write_text("second-pw\n")  # the secret rotated: the definition unchanged
        await apply(connection, batch(10, 10))
        now = await db.backends_once(lambda seen: before not in seen)
        assert before not in now and len(now) == 1  # the old pool closed, a new login

        secret.write_text("first-pw\n")  # the old password is refused, not bypassed
        with pytest.raises(BadInput, match="refused"):
            await apply(connection, batch(20, 10))
        assert db.rows() == (20, 20)
    finally:
        await close_pools()
        await db.backends_once(lambda seen: not seen)
        db.run(drop)


def proxied(db: Db, proxy: CutProxy, folder: Path) -> str:
    """The `[db]` connection through the proxy, two connections in its pool."""
    through = dataclasses.replace(db.server, port=proxy.port)
    return connection_toml(db.provider, "db", through, folder) + "pool_size = 2\n"


async def run_with_server_away(session: Session, proxy: CutProxy, db: Db) -> tuple[Any, int]:
    """Run the job: once its first batch is applied, every connection to the server is
    broken and new ones refused; the server is back once a batch's delivery has failed.
    The run's end, and the most sessions the server held at once for it."""
    most = 0
    away = back = False
    async with session.follow(job_events(JOB_ID)) as queue:
        await session.request_run(JOB_ID, None, False)
        while True:
            event = await asyncio.wait_for(queue.get(), 120)
            if isinstance(event, RunBatchApplied):
                most = max(most, len(await db.backends()))
                if not away:
                    proxy.sever()
                    away = True
            elif isinstance(event, RunDeliveryFailed) and away and not back:
                proxy.mend()
                back = True
            elif isinstance(event, RunFinished | RunFailed):
                assert back, "the server was never missed"
                return event, most


async def test_a_server_gone_mid_run_still_ends_with_every_row_written_once(
    db: Db, files: Files, session: Session, services: RunServices
) -> None:
    files.write(count=600, batch_size=40)  # 15 batches
    # A table without a unique index: nothing but the batches themselves keeps a row from
    # being written twice.
    columns = ", ".join(
        f"{name} text"
        for name in ("employee_id", "given_name", "surname", "mail", "department", "groups")
    )
    db.run(f"CREATE TABLE people ({columns})")
    with CutProxy(db.server.port) as proxy:
        connections = files.connections.read_text()
        files.connections.write_text(
            connections[: connections.index("[db]")] + proxied(db, proxy, files.folder)
        )
        await apply_files(session, files)
        async with services():
            end, most = await run_with_server_away(session, proxy, db)
    assert isinstance(end, RunFinished), end
    assert (end.stats.created, end.stats.failed) == (600, 0)
    assert db.rows(key="employee_id") == (600, 600)
    assert 1 <= most <= 2
    assert await db.backends_once(lambda seen: not seen) == set()  # the runner's stop
