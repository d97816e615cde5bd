"""What the throwaway PostgreSQL and MariaDB servers (tests/postgresql_server.py,
tests/mysql_server.py) share: a server given by a URL instead, the session fixture's
start, skip and clean-up, and the names of the per-test databases; and what the tests
and benches of both providers share: a connection to a server's login (as a definition
or as TOML), a provider opened on it and everything it reads."""

from __future__ import annotations

import itertools
import os
import shutil
import subprocess
import tempfile
import urllib.parse
import zlib
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Literal, Protocol, TypeVar

import msgspec
import pytest

from schemas.connections import MysqlConnection, PostgresqlConnection
from schemas.jobs import Endpoint, FieldMap, Job, ObjectMapping
from schemas.values import Record
from services.providers import open_provider
from services.providers.base import Layout, Provider
from services.providers.reach import writers

S = TypeVar("S")
S_co = TypeVar("S_co", covariant=True)


class Throwaway(Protocol[S_co]):
    """A server process of the test's own, its files in a folder."""

    def start(self) -> S_co: ...

    def stop(self) -> None: ...


def given(url: str, server: Callable[[str, int, str, str, str], S], port: int, db: str) -> S:
    """The login a URL (scheme://user:password@host:port/database) names; `port` and `db`
    where it names none."""
    parts = urllib.parse.urlsplit(url)
    return server(
        parts.hostname or "127.0.0.1",
        parts.port or port,
        urllib.parse.unquote(parts.username or ""),
        urllib.parse.unquote(parts.password or ""),
        parts.path.lstrip("/") or db,
    )


def session_server(
    name: str,
    url_variable: str,
    from_url: Callable[[str], S],
    installed: Callable[[], bool],
    needs: str,
    throwaway: Callable[[Path], Throwaway[S]],
) -> Iterator[S]:
    """The server the environment variable names, or one started in a temporary folder
    for the session (stopped and removed after it); the test is skipped, saying `needs`,
    when the server is not installed."""
    if url := os.environ.get(url_variable):
        yield from_url(url)
        return
    if not installed():
        pytest.skip(needs)
    folder = Path(tempfile.mkdtemp(prefix=f"idsync-{name}-"))
    server = throwaway(folder)
    try:
        yield server.start()
    finally:
        server.stop()
        shutil.rmtree(folder, ignore_errors=True)


_databases = itertools.count(1)


def database_name() -> str:
    """A name no other test of any process uses."""
    return f"idsync_test_{os.getpid()}_{next(_databases)}"


def own_database(
    run: Callable[[str], object], on: Callable[[str], S], mark: str, drop: str = ""
) -> Iterator[S]:
    """A database of the test's own on a server (`run` runs SQL there, `on` is the same
    login on another database; `mark` quotes names), dropped after the test."""
    name = database_name()
    run(f"CREATE DATABASE {mark}{name}{mark}")
    yield on(name)
    run(f"DROP DATABASE IF EXISTS {mark}{name}{mark}{drop}")


def client_output(
    what: str, command: list[str], sql: str, env: dict[str, str] | None = None
) -> str:
    """What a server's own command-line client prints for SQL given on its input."""
    done = subprocess.run(command, input=sql, capture_output=True, text=True, check=False, env=env)
    if done.returncode:
        raise RuntimeError(f"{what} failed: {done.stderr}")
    return done.stdout


SqlProvider = Literal["postgresql", "mysql"]


class Login(Protocol):
    """A server's address and login (tests/postgresql_server.py, tests/mysql_server.py)."""

    host: str
    port: int
    user: str
    password: str
    database: str


def password_file(provider: SqlProvider, server: Login, folder: Path) -> Path:
    """The login's password in a file in `folder`, for a connection's secret reference."""
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{provider}-password"
    path.write_text(server.password + "\n")
    return path


def sql_connection(
    provider: SqlProvider, server: Login, folder: Path, id: str, user: str | None = None
) -> PostgresqlConnection | MysqlConnection:
    """A connection to the server as its login (or as `user`, with the same password file:
    write another password in it), TLS off (a loopback server of the tests' own)."""
    fields: dict[str, object] = {
        "provider": provider,
        "id": id,
        "host": server.host,
        "port": server.port,
        "database": server.database,
        "user": user or server.user,
        "password": {"file": str(password_file(provider, server, folder))},
    }
    if provider == "postgresql":
        fields["sslmode"] = "disable"
    return msgspec.convert(fields, PostgresqlConnection | MysqlConnection)


def connection_toml(provider: SqlProvider, name: str, server: Login, folder: Path) -> str:
    """The same connection as a connections.toml section `[name]`."""
    secret = password_file(provider, server, folder)
    tls = 'sslmode = "disable"\n' if provider == "postgresql" else ""
    return f"""[{name}]
provider = "{provider}"
host = "{server.host}"
port = {server.port}
database = "{server.database}"
user = "{server.user}"
password = {{ file = "{secret}" }}
{tls}"""


async def opened(
    connection: PostgresqlConnection | MysqlConnection,
    endpoint: Endpoint,
    layout: Layout,
    *,
    write: bool = False,
) -> Provider:
    """The provider of one side, opened."""
    provider = open_provider(connection, endpoint, layout)
    await provider.open(write=write)
    return provider


async def read_all(provider: Provider) -> list[Record]:
    return [record async for batch in provider.read(100) for record in batch]


def jobs_writing(connection_id: str, *tables: str) -> list[str]:
    """The jobs writing to the connection, as `idsync connection test` finds them: one
    job per table, named after it (`hr-to-<table>`), writing `id` and `mail`."""
    jobs = [
        Job(
            id=f"hr-to-{table}",
            source=Endpoint(connection="hr", file="people.csv"),
            destination=Endpoint(connection=connection_id, table=table),
            objects=[ObjectMapping(keys=["id"], fields=[FieldMap(to="id"), FieldMap(to="mail")])],
        )
        for table in tables
    ]
    return list(writers(jobs, connection_id))


LONG_TESTS = bool(os.environ.get("IDSYNC_LONG_TESTS"))
"""Set: each case of a matrix through the services runs on both servers."""


def on_one_server(request: pytest.FixtureRequest, provider: str) -> None:
    """Through the services, each case of a matrix (its other parameters) runs on one of
    the two servers by default, the one its name picks (about half the cases each);
    IDSYNC_LONG_TESTS=1 runs every case on both. The case skipped says so."""
    params = request.node.callspec.params
    case = "-".join(f"{name}={params[name]}" for name in sorted(params) if name != "provider")
    picked = ("postgresql", "mysql")[zlib.crc32(case.encode()) % 2]
    if not LONG_TESTS and provider != picked:
        pytest.skip(f"this case runs on {picked} (IDSYNC_LONG_TESTS=1 runs it on both)")
