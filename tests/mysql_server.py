"""A throwaway MariaDB server for tests and benchmarks, on a free loopback port.

`mariadb-install-db` makes a data folder in a temporary folder (owned by the `mysql` user
when run as root), `mariadbd` serves it with its socket in that folder, listening on
127.0.0.1 only; it is stopped by its pid, never by name. The machine's own server and its
databases are never touched. IDSYNC_TEST_MYSQL_URL (mysql://user:password@host:port/db, a
login that may create databases) uses that server instead.

As pytest fixtures (listed in tests/conftest.py): `mysql` (one server per session) and
`my_database` (a fresh database per test, dropped after it).
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests import ports
from tests.ports import NotStarted, log_tail, start_on_free_ports
from tests.sql_servers import client_output, given, own_database, session_server

USER = "idsync"
PASSWORD = "secret-my-pw"
URL_VARIABLE = "IDSYNC_TEST_MYSQL_URL"


def server_binary() -> str | None:
    return shutil.which("mariadbd") or next(
        (p for p in ("/usr/sbin/mariadbd", "/usr/sbin/mysqld") if os.path.exists(p)), None
    )


@dataclass
class Server:
    host: str
    port: int
    user: str
    password: str
    database: str = "mysql"

    def sql(self, sql: str, database: str | None = None) -> str:
        """Runs SQL with the mariadb client (natively, not through the provider); its
        output, tab-separated, without column names."""
        client = shutil.which("mariadb") or shutil.which("mysql") or "mariadb"
        where = ["--protocol=TCP", "-h", self.host, "-P", str(self.port), "-u", self.user]
        command = [client, "--no-defaults", *where, "-N", "-B", database or self.database]
        return client_output("mariadb", command, sql, {**os.environ, "MYSQL_PWD": self.password})


class Instance:
    """One mariadbd bound to 127.0.0.1; its files under `folder`."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.data = folder / "data"
        self.socket = folder / "mysqld.sock"
        self.process: subprocess.Popen[bytes] | None = None

    def start(self) -> Server:
        binary = server_binary()
        if binary is None:
            raise RuntimeError("MariaDB is not installed: apt-get install mariadb-server")
        as_user = ["--user=mysql"] if os.geteuid() == 0 else []
        if as_user:  # mariadbd refuses to run as root
            shutil.chown(self.folder, "mysql", "mysql")
        common = ["--no-defaults", f"--datadir={self.data}", *as_user]
        install = ["--auth-root-authentication-method=normal", "--skip-test-db"]
        subprocess.run(
            ["mariadb-install-db", *common, *install, "--skip-name-resolve"],
            check=True,
            capture_output=True,
            timeout=120,
        )
        server = start_on_free_ports(lambda: self._start_once(binary, common))
        root = ["mariadb", "--no-defaults", f"--socket={self.socket}", "-u", "root"]
        grant = (
            f"CREATE USER '{USER}'@'%' IDENTIFIED BY '{PASSWORD}';"
            f"GRANT ALL ON *.* TO '{USER}'@'%' WITH GRANT OPTION;"
        )
        subprocess.run([*root, "-e", grant], check=True, capture_output=True)
        return server

    def _start_once(self, binary: str, common: list[str]) -> Server:
        port = ports.free_port()
        log = self.folder / "server.log"
        log.unlink(missing_ok=True)
        options = [
            f"--socket={self.socket}",
            f"--port={port}",
            "--bind-address=127.0.0.1",
            "--skip-name-resolve",
            "--skip-log-bin",
            f"--log-error={log}",
            f"--pid-file={self.folder / 'mysqld.pid'}",
            "--innodb-flush-log-at-trx-commit=0",  # throwaway data: no fsync per commit
            "--innodb-buffer-pool-size=32M",
            "--character-set-server=utf8mb4",
            "--collation-server=utf8mb4_unicode_ci",
        ]
        self.process = subprocess.Popen(
            [binary, *common, *options],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        # Ready when this server answers on its own socket (in our folder): it binds its
        # TCP port before it serves the socket, and exits when that port is taken.
        root = ["mariadb", "--no-defaults", f"--socket={self.socket}", "-u", "root"]
        deadline = time.monotonic() + 60
        while subprocess.run([*root, "-e", "SELECT 1"], capture_output=True).returncode:
            if self.process.poll() is not None or time.monotonic() > deadline:
                self.stop()
                raise NotStarted(f"mariadbd on port {port} did not start", log_tail(log))
            time.sleep(0.1)
        return Server("127.0.0.1", port, USER, PASSWORD)

    def stop(self, timeout: float = 30.0) -> None:
        process, self.process = self.process, None
        if process is None:
            return
        process.send_signal(signal.SIGTERM)  # a clean shutdown
        try:
            process.wait(timeout)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


@pytest.fixture(scope="session")
def mysql() -> Iterator[Server]:
    yield from session_server(
        "mysql",
        URL_VARIABLE,
        lambda url: given(url, Server, 3306, "mysql"),
        lambda: server_binary() is not None and shutil.which("mariadb-install-db") is not None,
        "needs MariaDB: install the Debian package mariadb-server",
        Instance,
    )


@pytest.fixture
def my_database(mysql: Server) -> Iterator[Server]:
    """The session's server, with a database of this test's own."""
    s = mysql
    yield from own_database(
        s.sql, lambda name: Server(s.host, s.port, s.user, s.password, name), "`"
    )
