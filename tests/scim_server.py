"""A throwaway SCIM 2.0 server for tests and benchmarks: scim2-server (PyPI, the dev
extra), in memory, on a free loopback port, stopped by its pid.

It serves a fixed pool of tenants (`/<tenant>/v2/…`, each with its own resources), so
every test gets an empty service of its own from one server per session, and a tenant
outside the pool is a URL the server answers 404 for (a side that does not exist).

As pytest fixtures (listed in tests/conftest.py): `scim_server` (one per session),
`scim_put_server` (one that offers neither PATCH nor bulk) and `scim_url` (a fresh
tenant's base URL per test). `ThrottlingProxy` stands in front of a
server and answers some requests 429 with a Retry-After, as a rate-limited service does.
"""

from __future__ import annotations

import http.client
import itertools
import json
import os
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests import ports
from tests.ports import NotStarted, address_in_use, log_tail, start_on_free_ports

TOKEN = "scim-test-token"
TENANTS = 600
BINARY = Path(sys.executable).parent / "scim2-server"
NO_PATCH = {
    "schemas": ["urn:ietf:params:scim:schemas:core:2.0:ServiceProviderConfig"],
    "patch": {"supported": False},
    "bulk": {"supported": False, "maxOperations": 0, "maxPayloadSize": 0},
    "filter": {"supported": True, "maxResults": 1000},
    "changePassword": {"supported": False},
    "sort": {"supported": True},
    "etag": {"supported": True},
}
"""A service without PATCH (nor bulk): updates are full PUTs."""


class ScimServer:
    def __init__(self, folder: Path, config: dict[str, Any] | None = None) -> None:
        self.folder = folder
        self.config = config
        self.port = 0
        self.process: subprocess.Popen[bytes] | None = None
        self._tenants = itertools.count(1)

    @property
    def root(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def new_tenant(self) -> str:
        """The base URL of a tenant no test has used."""
        n = next(self._tenants)
        if n > TENANTS:
            raise RuntimeError(f"the SCIM test server has only {TENANTS} tenants")
        return f"{self.root}/t{n}/v2"

    def start(self) -> None:
        self.folder.mkdir(parents=True, exist_ok=True)
        start_on_free_ports(self._start_once)

    def _start_once(self) -> None:
        self.port = ports.free_port()
        args = [str(BINARY), "--hostname", "127.0.0.1", "--port", str(self.port)]
        args += ["--bearer-token", TOKEN]
        for n in range(1, TENANTS + 1):
            args += ["--tenant", f"t{n}"]
        if self.config is not None:
            path = self.folder / "service-provider-config.json"
            path.write_text(json.dumps(self.config))
            args += ["--service-provider-config", str(path)]
        log_path = self.folder / "scim2-server.log"
        with log_path.open("wb") as log:
            self.process = subprocess.Popen(
                args, stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT
            )
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline and self.process.poll() is None:
            if self._ours():
                return
            if address_in_use(log_tail(log_path)):
                break
            time.sleep(0.05)
        self.stop()
        raise NotStarted(f"scim2-server on port {self.port} did not start", log_tail(log_path))

    def _ours(self) -> bool:
        """Whether the server on the port is ours: its last tenant answers our token and
        refuses another, and it describes the service we configured."""
        base = f"{self.root}/t{TENANTS}/v2"
        try:
            with httpx.Client(base_url=base, timeout=1) as http:
                ours = http.get("/Users", headers={"Authorization": f"Bearer {TOKEN}"})
                other = http.get("/Users", headers={"Authorization": "Bearer not-ours"})
                described = http.get("/ServiceProviderConfig")
            if (ours.status_code, other.status_code, described.status_code) != (200, 401, 200):
                return False
            patch = described.json().get("patch", {}).get("supported")
        except (httpx.HTTPError, ValueError):
            return False
        return self.config is None or patch == self.config["patch"]["supported"]

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            os.kill(self.process.pid, signal.SIGTERM)
            try:
                self.process.wait(5)
            except subprocess.TimeoutExpired:
                os.kill(self.process.pid, signal.SIGKILL)
                self.process.wait()
        self.process = None


def client(url: str) -> httpx.Client:
    """A plain HTTP client on a tenant, for seeding and looking as a test would."""
    return httpx.Client(base_url=url, headers={"Authorization": f"Bearer {TOKEN}"}, timeout=30)


def resources(url: str, endpoint: str = "/Users") -> list[dict[str, Any]]:
    """Every resource of a type, as the server holds it."""
    with client(url) as c:
        found: list[dict[str, Any]] = c.get(endpoint, params={"count": 1000}).json()["Resources"]
        return found


def require_server() -> None:
    if not BINARY.exists():
        pytest.skip("scim2-server is not installed: pip install -e '.[dev]'")


@pytest.fixture(scope="session")
def scim_server() -> Iterator[ScimServer]:
    require_server()
    with tempfile.TemporaryDirectory(prefix="idsync-scim-") as folder:
        server = ScimServer(Path(folder))
        server.start()
        yield server
        server.stop()


@pytest.fixture(scope="session")
def scim_put_server() -> Iterator[ScimServer]:
    """A server that says it has no PATCH and no bulk (NO_PATCH)."""
    require_server()
    with tempfile.TemporaryDirectory(prefix="idsync-scim-put-") as folder:
        server = ScimServer(Path(folder), NO_PATCH)
        server.start()
        yield server
        server.stop()


@pytest.fixture
def scim_url(scim_server: ScimServer) -> str:
    """An empty SCIM service of the test's own (a tenant of the session's server)."""
    return scim_server.new_tenant()


class ThrottlingProxy:
    """An HTTP proxy in front of a server that answers a request 429 (with Retry-After)
    whenever `throttle()` says so, and relays the others (answering one as `after` says,
    once it is carried out)."""

    def __init__(
        self,
        port: int,
        throttle: Callable[[], float | None],
        methods: list[str] | None = None,
        after: Callable[[str, str], int | None] | None = None,
    ) -> None:
        self.target = port
        self.throttle = throttle
        self.after = after
        """(method, path) → a status to answer instead of the server's once the request
        was relayed and carried out (a gateway's 504 after the write); None: the answer."""
        self.methods = methods if methods is not None else []
        """The method of every request relayed, in order."""
        self.refused = 0
        self.relayed = 0
        proxy = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, format: str, *args: Any) -> None:
                pass

            def _relay(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else None
                wait = proxy.throttle()
                if wait is not None:
                    proxy.refused += 1
                    text = b'{"schemas":["urn:ietf:params:scim:api:messages:2.0:Error"],'
                    text += b'"status":"429","detail":"Too many requests"}'
                    self.send_response(429)
                    self.send_header("Retry-After", f"{wait:g}")
                    self.send_header("Content-Type", "application/scim+json")
                    self.send_header("Content-Length", str(len(text)))
                    self.end_headers()
                    self.wfile.write(text)
                    return
                proxy.relayed += 1
                proxy.methods.append(self.command)
                upstream = http.client.HTTPConnection("127.0.0.1", proxy.target, timeout=60)
                headers = {k: v for k, v in self.headers.items() if k.lower() != "connection"}
                upstream.request(self.command, self.path, body=body, headers=headers)
                answer = upstream.getresponse()
                data = answer.read()
                instead = proxy.after(self.command, self.path) if proxy.after else None
                if instead is not None:
                    upstream.close()
                    self.send_response(instead)
                    self.send_header("Content-Length", "0")
                    self.end_headers()
                    return
                self.send_response(answer.status)
                for name, value in answer.getheaders():
                    if name.lower() not in ("connection", "transfer-encoding", "content-length"):
                        self.send_header(name, value)
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)
                upstream.close()

            do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = _relay

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.port: int = self.server.server_address[1]
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def url(self, url: str) -> str:
        """`url` (of the server behind) as reached through the proxy."""
        _, _, rest = url.partition("://127.0.0.1:")
        return f"http://127.0.0.1:{self.port}/{rest.partition('/')[2]}"

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()
