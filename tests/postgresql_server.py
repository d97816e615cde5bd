"""A throwaway PostgreSQL server for tests and benchmarks, on a free loopback port.

`initdb` makes a cluster in a temporary folder (as the `postgres` user when run as root:
initdb refuses root), `pg_ctl` starts it with fsync off, listening on 127.0.0.1 only and
its socket in that folder; it is stopped by the pid in its postmaster.pid, never by name.
The machine's own clusters are never touched. IDSYNC_TEST_POSTGRESQL_URL
(postgresql://user:password@host:port/db, a login that may create databases) uses that
server instead.

As pytest fixtures (listed in tests/conftest.py): `postgresql` (one server per session)
and `pg_database` (a fresh database per test, dropped after it).
"""

from __future__ import annotations

import glob
import os
import pwd
import shutil
import signal
import subprocess
import time
import urllib.parse
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests import ports
from tests.ports import NotStarted, log_tail, start_on_free_ports
from tests.sql_servers import client_output, given, own_database, session_server

USER = "idsync"
PASSWORD = "secret-pg-pw"
URL_VARIABLE = "IDSYNC_TEST_POSTGRESQL_URL"


def bin_folder() -> Path | None:
    """The newest installed server's binaries (Debian: /usr/lib/postgresql/<n>/bin)."""
    found = sorted(
        glob.glob("/usr/lib/postgresql/*/bin/initdb"), key=lambda p: int(Path(p).parts[-3])
    )
    if found:
        return Path(found[-1]).parent
    initdb = shutil.which("initdb")
    return Path(initdb).parent if initdb else None


@dataclass
class Server:
    host: str
    port: int
    user: str
    password: str
    database: str = "postgres"

    def dsn(self, database: str | None = None) -> str:
        who = f"{urllib.parse.quote(self.user)}:{urllib.parse.quote(self.password)}"
        return f"postgresql://{who}@{self.host}:{self.port}/{database or self.database}"

    def psql(self, sql: str, database: str | None = None) -> str:
        """Runs SQL with psql (natively, not through the provider); its output."""
        psql = shutil.which("psql") or str((bin_folder() or Path("/usr/bin")) / "psql")
        options = ["-X", "-q", "-A", "-t", "-v", "ON_ERROR_STOP=1"]
        return client_output("psql", [psql, *options, "-d", self.dsn(database)], sql)


class Cluster:
    """One postgres process bound to 127.0.0.1; its files under `folder`."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.data = folder / "data"
        self.port = 0
        self.pid: int | None = None
        self._as: list[str] = []

    def _run(self, *command: str) -> None:
        subprocess.run([*self._as, *command], check=True, capture_output=True, timeout=120)

    def start(self) -> Server:
        binaries = bin_folder()
        if binaries is None:
            raise RuntimeError("PostgreSQL is not installed: apt-get install postgresql")
        if os.geteuid() == 0:  # initdb and postgres refuse to run as root
            owner = pwd.getpwnam("postgres")
            os.chown(self.folder, owner.pw_uid, owner.pw_gid)
            self._as = ["runuser", "-u", "postgres", "--"]
        password_file = self.folder / "pw"
        password_file.write_text(PASSWORD + "\n")
        if self._as:
            os.chown(password_file, pwd.getpwnam("postgres").pw_uid, -1)
        self._run(
            str(binaries / "initdb"),
            "-D",
            str(self.data),
            "-U",
            USER,
            "--pwfile",
            str(password_file),
            "--auth=scram-sha-256",
            "--encoding=UTF8",
            "--locale=C",
            "--no-sync",
        )
        return start_on_free_ports(lambda: self._start_once(binaries))

    def _start_once(self, binaries: Path) -> Server:
        self.port = ports.free_port()
        options = (
            f"-p {self.port} -c listen_addresses=127.0.0.1 -k {self.folder} "
            "-c fsync=off -c synchronous_commit=off -c full_page_writes=off"
        )
        log = self.folder / "server.log"
        log.unlink(missing_ok=True)
        pg_ctl = str(binaries / "pg_ctl")
        # -w: pg_ctl waits for this server's own postmaster.pid to say it is ready, and
        # fails when the postmaster exits first (it does when its port is taken).
        command = [pg_ctl, "-D", str(self.data), "-l", str(log), "-w", "-o", options]
        started = subprocess.run([*self._as, *command, "start"], capture_output=True, timeout=120)
        self.pid = self._postmaster()
        if started.returncode:
            self.stop()
            said = started.stdout.decode(errors="replace") + started.stderr.decode(errors="replace")
            raise NotStarted(f"postgres on port {self.port} did not start", log_tail(log) + said)
        return Server("127.0.0.1", self.port, USER, PASSWORD)

    def _postmaster(self) -> int | None:
        """The running postmaster's pid, from its postmaster.pid."""
        try:
            return int((self.data / "postmaster.pid").read_text().split()[0])
        except (OSError, IndexError, ValueError):
            return None

    def stop(self, timeout: float = 20.0) -> None:
        if self.pid is None:
            return
        pid, self.pid = self.pid, None
        try:
            os.kill(pid, signal.SIGINT)  # fast shutdown
        except ProcessLookupError:
            return
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                os.kill(pid, 0)
            except ProcessLookupError:
                return
            time.sleep(0.05)
        os.kill(pid, signal.SIGKILL)


@pytest.fixture(scope="session")
def postgresql() -> Iterator[Server]:
    yield from session_server(
        "postgresql",
        URL_VARIABLE,
        lambda url: given(url, Server, 5432, "postgres"),
        lambda: bin_folder() is not None,
        "needs PostgreSQL: install the Debian package postgresql",
        Cluster,
    )


@pytest.fixture
def pg_database(postgresql: Server) -> Iterator[Server]:
    """The session's server, with a database of this test's own."""
    s = postgresql
    yield from own_database(
        s.psql, lambda name: Server(s.host, s.port, s.user, s.password, name), '"', " WITH (FORCE)"
    )
