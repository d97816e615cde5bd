"""A Samba AD domain controller for tests and benchmarks (../shared/INFRA.md).

Its ports are fixed (389, 636), so one runs per machine: the first test session that
needs it provisions a fresh domain (about 3 s) under a temporary folder and starts it;
sessions running meanwhile (another pytest, a benchmark) use the same one; the last to
leave stops it, by its pid. A file lock orders all of this. A DC whose process lives (its
pid file names a samba process) but is slow to accept, busy with another session's work,
is waited for up to a minute, never started twice. Each test works in its own OU, named
so that no two sessions meet.

As pytest fixtures (listed in tests/conftest.py): `samba` (the server, per session) and
`ad_base` (a fresh `OU=t-…` below the domain, per test).
"""

from __future__ import annotations

import contextlib
import fcntl
import itertools
import os
import shutil
import signal
import socket
import ssl
import subprocess
import tempfile
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import ldap3
import pytest
from ldap3.core.exceptions import LDAPException

REALM = "EXAMPLE.TEST"
DOMAIN_DN = "DC=example,DC=test"
ADMIN = f"Administrator@{REALM}"
ADMIN_PASSWORD = "Idsync-Adm1n!"
URL = "ldaps://127.0.0.1"
HOME = Path(tempfile.gettempdir()) / "idsync-samba"
PACKAGES = "samba samba-ad-dc samba-ad-provision samba-dsdb-modules winbind krb5-user ldb-tools"


def samba_installed() -> bool:
    return bool(shutil.which("samba") or os.access("/usr/sbin/samba", os.X_OK)) and bool(
        shutil.which("samba-tool")
    )


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


def _answers(port: int = 636, timeout: float = 0.2) -> bool:
    with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), timeout):
        return True
    return False


def _is_samba(pid: int) -> bool:
    """Whether `pid` is a samba process (not another that took a dead DC's pid)."""
    try:
        return Path(f"/proc/{pid}/comm").read_text().strip() == "samba"
    except OSError:
        return False


class Samba:
    """The machine's one test DC; `acquire`/`release` count the sessions using it."""

    def __init__(self, home: Path = HOME) -> None:
        self.home = home
        self.home.mkdir(parents=True, exist_ok=True)
        self.users = self.home / "users"
        self.users.mkdir(exist_ok=True)
        self.me = self.users / str(os.getpid())

    @contextlib.contextmanager
    def _locked(self) -> Iterator[None]:
        with (self.home / "lock").open("w") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            yield

    def _pid(self) -> int | None:
        path = self.home / "samba.pid"
        if not path.exists():
            return None
        pid = int(path.read_text() or 0)
        return pid if pid and _alive(pid) and _is_samba(pid) else None

    def acquire(self) -> None:
        with self._locked():
            if self._pid() is None:
                self._start()
            elif not self._answers_in(60.0):
                # Its process lives but it has not answered for a minute: not merely busy
                # with another session's work. Stopped by its pid, and a fresh one made.
                self._stop()
                self._start()
            self.me.touch()

    def _answers_in(self, timeout: float) -> bool:
        """Whether the running DC answers within `timeout`: a DC busy with another
        session's work (one process serves every request) may be slow to accept."""
        deadline = time.monotonic() + timeout
        while self._pid() is not None:
            if _answers(636, timeout=5.0):
                return True
            if time.monotonic() > deadline:
                return False
            time.sleep(0.5)
        return False

    def release(self) -> None:
        with self._locked():
            self.me.unlink(missing_ok=True)
            for user in self.users.iterdir():
                if not user.name.isdigit() or not _alive(int(user.name)):
                    user.unlink(missing_ok=True)  # a session that died without leaving
            if not any(self.users.iterdir()):
                self._stop()

    def _start(self, timeout: float = 30.0) -> None:
        if _answers(389) or _answers(636):
            raise RuntimeError("ports 389/636 are taken by another server: stop it first")
        folder = Path(tempfile.mkdtemp(prefix="dc-", dir=self.home))
        subprocess.run(
            [
                "samba-tool",
                "domain",
                "provision",
                "--use-rfc2307",
                f"--realm={REALM}",
                "--domain=EXAMPLE",
                "--server-role=dc",
                "--dns-backend=NONE",
                f"--adminpass={ADMIN_PASSWORD}",
                f"--targetdir={folder}",
                "--host-name=DC1",
                "--option=interfaces=lo",
                "--option=bind interfaces only=yes",
            ],
            check=True,
            capture_output=True,
            timeout=120,
        )
        for name in ("cache", "run", "log"):
            (folder / name).mkdir(exist_ok=True)
        conf = folder / "etc" / "smb.conf"
        text = conf.read_text().replace(
            "[global]",
            "[global]\n"
            f"\tpid directory = {folder}/run\n\twinbindd socket directory = {folder}/run/wb\n"
            f"\tncalrpc dir = {folder}/run/ncalrpc\n\tlog file = {folder}/log/log.%m\n",
            1,
        )
        conf.write_text("\n".join(x for x in text.splitlines() if "log file = /var" not in x))
        with (folder / "samba.out").open("wb") as out:
            command = ["samba", "-F", "--no-process-group", "-M", "single", "-s", str(conf)]
            process = subprocess.Popen(
                [*command, "--option=server services = ldap, kdc", "--debug-stdout", "-d", "1"],
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        (self.home / "samba.pid").write_text(str(process.pid))
        (self.home / "folder").write_text(str(folder))
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if process.poll() is not None:
                raise RuntimeError(f"samba exited ({process.returncode}); see {folder}/samba.out")
            if _answers(636) and self._binds():
                return
            time.sleep(0.1)
        raise RuntimeError(f"samba did not answer within {timeout}s; see {folder}/samba.out")

    def _binds(self) -> bool:
        try:
            with self.connection():
                return True
        except LDAPException:
            return False

    def _stop(self, timeout: float = 10.0) -> None:
        pid = self._pid()
        if pid is not None:
            os.kill(pid, signal.SIGTERM)
            deadline = time.monotonic() + timeout
            while _alive(pid) and time.monotonic() < deadline:
                with contextlib.suppress(ChildProcessError):
                    os.waitpid(pid, os.WNOHANG)
                time.sleep(0.05)
            if _alive(pid):
                os.kill(pid, signal.SIGKILL)
        folder = self.home / "folder"
        if folder.exists():
            shutil.rmtree(folder.read_text(), ignore_errors=True)
            folder.unlink()
        (self.home / "samba.pid").unlink(missing_ok=True)

    def connection(self) -> ldap3.Connection:
        """A bound ldap3 connection as the domain's Administrator (tests' own checks)."""
        tls = ldap3.Tls(validate=ssl.CERT_NONE)
        server = ldap3.Server(URL, use_ssl=True, tls=tls, connect_timeout=5)
        # A tree delete of thousands of objects takes minutes on one Samba process.
        return ldap3.Connection(server, ADMIN, ADMIN_PASSWORD, auto_bind=True, receive_timeout=600)

    def add_ou(self, dn: str) -> None:
        with self.connection() as conn:
            if not conn.add(dn, ["organizationalUnit"]):
                raise RuntimeError(f"adding {dn}: {conn.result}")

    def remove_tree(self, dn: str) -> None:
        """Deletes an OU and everything below it (the tree-delete control)."""
        with self.connection() as conn:
            conn.delete(dn, controls=[("1.2.840.113556.1.4.805", True, None)])


_ous = itertools.count(1)
SESSION = uuid.uuid4().hex[:5]


def sam(name: str) -> str:
    """An account name for this session: sAMAccountName is unique in the whole domain,
    which other test sessions share."""
    return f"{SESSION}{name}"


@pytest.fixture(scope="session")
def samba() -> Iterator[Samba]:
    if not samba_installed():
        pytest.skip(f"needs a Samba AD DC: install the Debian packages {PACKAGES}")
    if os.geteuid() != 0:  # provisioning sets file ownership and ACLs; ports 389/636
        pytest.skip("needs root: a Samba AD DC is provisioned and serves on ports 389/636")
    server = Samba()
    server.acquire()
    yield server
    server.release()


@pytest.fixture
def ad_base(samba: Samba) -> Iterator[str]:
    """A fresh, empty OU for one test: `OU=t-<session>-<n>,DC=example,DC=test`."""
    dn = f"OU=t-{uuid.uuid4().hex[:8]}-{next(_ous)},{DOMAIN_DN}"
    samba.add_ou(dn)
    yield dn
    samba.remove_tree(dn)
