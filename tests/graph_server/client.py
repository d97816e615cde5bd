"""The tests' side of the server: start it in its own process (stopped by pid), make a
tenant, and speak to it as an administrator would — Graph calls with the tenant's own
"seeder" app, never through the provider under test."""

from __future__ import annotations

import os
import signal
import ssl
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx

ROOT = Path(__file__).resolve().parents[2]


class GraphServer:
    """`python -m tests.graph_server` on a random loopback port."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.process: subprocess.Popen[bytes] | None = None
        self.url = ""

    @property
    def ca_file(self) -> Path:
        return self.folder / "ca.pem"

    def start(self) -> None:
        self.folder.mkdir(parents=True, exist_ok=True)
        log = (self.folder / "server.log").open("wb")
        self.process = subprocess.Popen(
            [sys.executable, "-m", "tests.graph_server", str(self.folder)],
            cwd=ROOT,
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            env={**os.environ, "PYTHONPATH": str(ROOT)},
        )
        deadline = time.monotonic() + 20
        while not (self.folder / "url").exists():
            if self.process.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(
                    f"the tests' Graph did not start: {(self.folder / 'server.log').read_text()}"
                )
            time.sleep(0.02)
        self.url = (self.folder / "url").read_text()

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            os.kill(self.process.pid, signal.SIGTERM)
            self.process.wait(10)
        self.process = None

    def http(self) -> httpx.Client:
        context = ssl.create_default_context(cafile=str(self.ca_file))
        return httpx.Client(base_url=self.url, verify=context, timeout=30)

    def tenant(self, name: str) -> Tenant:
        with self.http() as http:
            made = http.post("/_admin/tenants", json={"name": name}).json()
        return Tenant(self, made["id"], made["name"], made["domains"], made["seeder"])


@dataclass
class Tenant:
    server: GraphServer
    id: str
    name: str
    domains: list[str]
    seeder: dict[str, str]

    @property
    def domain(self) -> str:
        return self.domains[0]

    def admin(self, method: str, what: str, body: Any = None) -> Any:
        with self.server.http() as http:
            answer = http.request(method, f"/_admin/tenants/{self.id}/{what}", json=body)
            answer.raise_for_status()
            return answer.json()

    def app(self, roles: list[str] | None = None, **fields: str) -> str:
        """Registers an app (a `secret` or a `certificate`); its client id."""
        body: dict[str, Any] = dict(fields)
        if roles is not None:
            body["roles"] = roles
        return str(self.admin("POST", "apps", body)["client_id"])

    def extension(self, name: str, *, multi: bool = False) -> None:
        self.admin("POST", "extensions", {"name": name, "multi": multi})

    def throttle(
        self,
        writes: tuple[float, float, float | None] | None = None,
        requests: tuple[float, float, float | None] | None = None,
    ) -> None:
        def spec(given: tuple[float, float, float | None] | None) -> dict[str, Any] | None:
            return (
                None
                if given is None
                else {"count": given[0], "seconds": given[1], "burst": given[2]}
            )

        self.admin("PUT", "throttle", {"writes": spec(writes), "requests": spec(requests)})

    def fault(
        self,
        method: str,
        path: str,
        status: int,
        code: str,
        message: str,
        times: int = 1,
        retry_after: float | None = None,
        *,
        after: bool = False,
    ) -> None:
        self.admin(
            "POST",
            "faults",
            {
                "method": method,
                "path": path,
                "status": status,
                "code": code,
                "message": message,
                "times": times,
                "retry_after": retry_after,
                "after": after,
            },
        )

    def objects(self) -> dict[str, list[dict[str, Any]]]:
        """Everything the tenant holds, as stored (passwords, manager and members by id)."""
        found: dict[str, list[dict[str, Any]]] = self.admin("GET", "objects")
        return found

    def users(self, by: str = "userPrincipalName") -> dict[str, dict[str, Any]]:
        return {str(u.get(by)): u for u in self.objects()["user"]}

    def stats(self) -> dict[str, Any]:
        found: dict[str, Any] = self.admin("GET", "stats")
        return found

    def graph(self, method: str, path: str, body: Any = None, **params: str) -> Any:
        """A Graph call as the tenant's seeder app (all permissions)."""
        with self.server.http() as http:
            form = {
                "grant_type": "client_credentials",
                "client_id": self.seeder["client_id"],
                "client_secret": self.seeder["secret"],
                "scope": "https://graph.microsoft.com/.default",
            }
            token = http.post(f"/{self.id}/oauth2/v2.0/token", data=form).json()["access_token"]
            answer = http.request(
                method,
                f"/v1.0/{path}",
                json=body,
                params=params,
                headers={"Authorization": f"Bearer {token}"},
            )
            if answer.status_code >= 400:
                raise AssertionError(f"{method} {path}: {answer.status_code} {answer.text}")
            return answer.json() if answer.content else None
