"""A throwaway OpenLDAP slapd for tests and benchmarks, on a free loopback port.

The configuration is the one ../shared/INFRA.md describes (mdb, `dbnosync` for speed,
no size limit on paged searches), with two suffixes so jobs can copy between them,
and a small test schema whose object class holds the field names the provider
contract suite uses (`id`, `name`, `mail`, `groups`, `title`). Stopped by the pid in
its pid file, never by name.

As pytest fixtures (listed in tests/conftest.py): `slapd` (one server per session)
and `ldap_base` (a fresh `ou=test-<n>` below `dc=example,dc=org` per test).
"""

from __future__ import annotations

import base64
import hashlib
import itertools
import os
import shutil
import signal
import subprocess
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import ldap3
import pytest
from ldap3.core.exceptions import LDAPException

from tests import ports
from tests.ports import NotStarted, start_on_free_ports

SUFFIX = "dc=example,dc=org"
OTHER_SUFFIX = "dc=example,dc=com"
ADMIN_DN = f"cn=admin,{SUFFIX}"
ADMIN_PASSWORD = "secret-admin-pw"
# A user whose paged searches stop at 10 entries: shows that a cut result is an error.
LIMITED_DN = f"cn=limited,{SUFFIX}"
LIMITED_PASSWORD = "limited-pw"
# A user who may read every attribute but employeeType and member: shows what a revoked
# right does.
BLINKERED_DN = f"cn=blinkered,{SUFFIX}"
BLINKERED_PASSWORD = "blinkered-pw"

TEST_SCHEMA = """\
attributetype ( 1.3.6.1.4.1.55555.1.1 NAME 'id'
  EQUALITY caseExactMatch SUBSTR caseExactSubstringsMatch
  SYNTAX 1.3.6.1.4.1.1466.115.121.1.15 )
attributetype ( 1.3.6.1.4.1.55555.1.2 NAME 'groups'
  EQUALITY caseExactMatch SYNTAX 1.3.6.1.4.1.1466.115.121.1.15 )
attributetype ( 1.3.6.1.4.1.55555.1.3 NAME 'blob'
  EQUALITY octetStringMatch SYNTAX 1.3.6.1.4.1.1466.115.121.1.40 )
objectclass ( 1.3.6.1.4.1.55555.2.1 NAME 'idsyncRecord' SUP top STRUCTURAL
  MUST id MAY ( name $ mail $ groups $ title $ description $ blob ) )
"""


def slapd_binary() -> str | None:
    return shutil.which("slapd") or next(
        (p for p in ("/usr/sbin/slapd",) if os.access(p, os.X_OK)), None
    )


def ssha(password: str) -> str:
    """The {SSHA} hash slappasswd would make."""
    salt = os.urandom(8)
    digest = hashlib.sha1(password.encode() + salt).digest()
    return "{SSHA}" + base64.b64encode(digest + salt).decode()


def free_port() -> int:
    return ports.free_port()


class Slapd:
    """One slapd process bound to 127.0.0.1; its files under `folder`."""

    def __init__(self, folder: Path, *, dbnosync: bool = True) -> None:
        self.folder = folder
        self.dbnosync = dbnosync
        self.port = 0
        self.pid: int | None = None

    @property
    def url(self) -> str:
        return f"ldap://127.0.0.1:{self.port}"

    def config(self) -> str:
        schema = "/etc/ldap/schema"
        lines = [
            *(
                f"include {schema}/{name}.schema"
                for name in ("core", "cosine", "inetorgperson", "nis")
            ),
            f"include {self.folder}/idsync-test.schema",
            f"pidfile {self.folder}/slapd.pid",
            f"argsfile {self.folder}/slapd.args",
            "modulepath /usr/lib/ldap",
            "moduleload back_mdb",
        ]
        for n, suffix in enumerate((SUFFIX, OTHER_SUFFIX)):
            (self.folder / f"db{n}").mkdir(exist_ok=True)
            lines += [
                "database mdb",
                "maxsize 1073741824",
                f'suffix "{suffix}"',
                f'rootdn "cn=admin,{suffix}"',
                f"rootpw {ssha(ADMIN_PASSWORD)}",
                f"directory {self.folder}/db{n}",
                *(["dbnosync"] if self.dbnosync else []),
                f'limits dn.exact="{LIMITED_DN}" size.prtotal=10 size.soft=10 size.hard=10',
                "limits users size.prtotal=unlimited",
                f'access to attrs=employeeType,member by dn.exact="{BLINKERED_DN}" none by * read',
                "access to * by * read",
                "index objectClass eq",
                "index uid,cn,mail,sn,givenName,id eq,sub",
                "index entryUUID eq",
            ]
        return "\n".join(lines) + "\n"

    def start(self, timeout: float = 10.0) -> None:
        binary = slapd_binary()
        if binary is None:
            raise RuntimeError("slapd is not installed: apt-get install slapd ldap-utils")
        self.folder.mkdir(parents=True, exist_ok=True)
        (self.folder / "idsync-test.schema").write_text(TEST_SCHEMA)
        start_on_free_ports(lambda: self._start_once(binary, timeout))
        self._seed()

    def _start_once(self, binary: str, timeout: float) -> None:
        self.port = ports.free_port()
        conf = self.folder / "slapd.conf"
        conf.write_text(self.config())
        pidfile = self.folder / "slapd.pid"
        pidfile.unlink(missing_ok=True)
        # slapd forks into the background once it listens; its pid file says which
        # process to stop. It exits at once, saying nothing, when it cannot bind.
        started = subprocess.run(
            [binary, "-f", str(conf), "-h", f"{self.url}/"], capture_output=True, timeout=timeout
        )
        if started.returncode:
            said = (started.stdout + started.stderr).decode(errors="replace")[-3000:]
            raise NotStarted(f"slapd on port {self.port} exited ({started.returncode})", said)
        deadline = time.monotonic() + timeout
        text = ""
        while time.monotonic() < deadline:
            text = pidfile.read_text().strip() if pidfile.exists() else ""
            if text and self._answers():
                self.pid = int(text)
                return
            time.sleep(0.02)
        if text:
            self.pid = int(text)
        self.stop()
        raise NotStarted(f"slapd on port {self.port} did not answer within {timeout}s", "")

    def _answers(self) -> bool:
        """Whether our slapd answers: a bind as its administrator (another server that
        took the port first would not know the password)."""
        server = ldap3.Server(self.url, connect_timeout=1)
        try:
            with ldap3.Connection(server, ADMIN_DN, ADMIN_PASSWORD, auto_bind=True):
                return True
        except LDAPException:
            return False

    def _seed(self) -> None:
        """The suffix entries and the limited user."""
        for suffix in (SUFFIX, OTHER_SUFFIX):
            top = f"dn: {suffix}\nobjectClass: dcObject\nobjectClass: organization\n"
            self.ldapadd(f"{top}dc: example\no: Example\n", bind_dn=f"cn=admin,{suffix}")
        self.ldapadd(
            f"dn: {LIMITED_DN}\nobjectClass: person\nobjectClass: simpleSecurityObject\n"
            f"cn: limited\nsn: limited\nuserPassword: {LIMITED_PASSWORD}\n"
        )
        self.ldapadd(
            f"dn: {BLINKERED_DN}\nobjectClass: person\nobjectClass: simpleSecurityObject\n"
            f"cn: blinkered\nsn: blinkered\nuserPassword: {BLINKERED_PASSWORD}\n"
        )

    def ldapadd(self, ldif: str, *, bind_dn: str = ADMIN_DN) -> None:
        """Adds entries with the ldapadd tool (as the root of a suffix; both share a password)."""
        subprocess.run(
            ["ldapadd", "-x", "-H", self.url, "-D", bind_dn, "-w", ADMIN_PASSWORD],
            input=ldif.encode(),
            check=True,
            capture_output=True,
        )

    def stop(self, timeout: float = 10.0) -> None:
        if self.pid is None:
            return
        pid, self.pid = self.pid, None
        try:
            os.kill(pid, signal.SIGINT)
        except ProcessLookupError:
            return
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                os.kill(pid, 0)
            except ProcessLookupError:
                return
            time.sleep(0.02)
        os.kill(pid, signal.SIGKILL)


_subtrees = itertools.count(1)


@pytest.fixture(scope="session")
def slapd() -> Iterator[Slapd]:
    if slapd_binary() is None or shutil.which("ldapadd") is None:
        pytest.skip("needs OpenLDAP: install the Debian packages slapd and ldap-utils")
    folder = Path(tempfile.mkdtemp(prefix="idsync-slapd-"))
    server = Slapd(folder)
    server.start()
    yield server
    server.stop()
    shutil.rmtree(folder, ignore_errors=True)


@pytest.fixture
def ldap_base(slapd: Slapd) -> str:
    """A fresh, empty organizational unit for one test: `ou=test-<n>,dc=example,dc=org`."""
    ou = f"test-{os.getpid()}-{next(_subtrees)}"
    slapd.ldapadd(f"dn: ou={ou},{SUFFIX}\nobjectClass: organizationalUnit\nou: {ou}\n")
    return f"ou={ou},{SUFFIX}"
