"""The HTTPS server: sign-in at /{tenant}/…, Graph at /v1.0/…, and /_admin/… for the
tests to make tenants, apps and extensions, set throttling, inject faults and look at
what Graph holds (passwords included, which Graph itself never shows)."""

from __future__ import annotations

import json
import secrets
import ssl
import threading
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, urlsplit

from . import auth
from .directory import App, Fault, Tenant
from .routes import Graph, Request, Response
from .throttle import Bucket

ALL_ROLES = [
    "User.ReadWrite.All",
    "Group.ReadWrite.All",
    "GroupMember.ReadWrite.All",
    "Directory.ReadWrite.All",
]


class Service:
    """Every tenant, by id and by domain."""

    def __init__(self) -> None:
        self.tenants: dict[str, Tenant] = {}
        self.lock = threading.Lock()
        self.base = ""

    def tenant(self, name: str) -> Tenant | None:
        found = self.tenants.get(name)
        if found is not None:
            return found
        low = name.lower()
        return next(
            (t for t in self.tenants.values() if low in [d.lower() for d in t.domains]), None
        )

    def admin(self, method: str, parts: list[str], body: Any) -> tuple[int, Any]:
        if parts == ["tenants"] and method == "POST":
            name = str(body.get("name") or uuid.uuid4().hex[:8])
            tenant = Tenant(
                str(uuid.uuid4()), name, [f"{name}.example.org", f"{name}.onmicrosoft.com"]
            )
            seeder = App(str(uuid.uuid4()), secrets.token_urlsafe(24), None, list(ALL_ROLES))
            tenant.apps[seeder.client_id] = seeder
            with self.lock:
                self.tenants[tenant.id] = tenant
            shown = {"client_id": seeder.client_id, "secret": seeder.secret}
            return 201, {"id": tenant.id, "name": name, "domains": tenant.domains, "seeder": shown}
        found = self.tenant(parts[1]) if len(parts) > 2 else None
        if found is None:
            return 404, {"error": "no such tenant"}
        tenant, what = found, parts[2]
        with tenant.lock:
            if what == "apps" and method == "POST":
                app = App(
                    str(body.get("client_id") or uuid.uuid4()),
                    body.get("secret"),
                    body.get("certificate"),
                    list(body.get("roles", ALL_ROLES)),
                )
                tenant.apps[app.client_id] = app
                return 201, {"client_id": app.client_id}
            if what == "extensions" and method == "POST":
                tenant.extensions[str(body["name"])] = bool(body.get("multi", False))
                return 201, {}
            if what == "throttle" and method == "PUT":
                for name in ("writes", "requests"):
                    spec = body.get(name)
                    bucket = (
                        Bucket(spec["count"], spec["seconds"], spec.get("burst")) if spec else None
                    )
                    setattr(tenant, name, bucket)
                return 200, {}
            if what == "faults" and method == "POST":
                tenant.faults.append(Fault(**body))
                return 201, {}
            if what == "faults" and method == "DELETE":
                tenant.faults.clear()
                return 200, {}
            if what == "settings" and method == "PUT":
                tenant.token_lifetime = int(body.get("token_lifetime", tenant.token_lifetime))
                return 200, {}
            if what == "expire-delta" and method == "POST":
                tenant.delta_epoch += 1
                return 200, {}
            if what == "expire-tokens" and method == "POST":
                tenant.token_epoch += 1
                return 200, {}
            if what == "stats" and method == "GET":
                times = tenant.write_times
                return 200, {**tenant.stats, "writes": len(times), "write_times": times}
            if what == "objects" and method == "GET":
                live = {k: list(v.values()) for k, v in tenant.objects.items()}
                deleted = [dict(o, kind=k) for k, o in tenant.deleted.values()]
                return 200, {**live, "deleted": deleted}
        return 404, {"error": f"no admin route {method} {'/'.join(parts)}"}


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    # Headers and body go in two writes: without TCP_NODELAY, Nagle's algorithm and the
    # client's delayed acknowledgement would hold every answer some 40 ms.
    disable_nagle_algorithm = True
    server: GraphHttpServer

    def log_message(self, format: str, *args: Any) -> None:
        pass

    def _send(self, status: int, body: Any, headers: dict[str, str] | None = None) -> None:
        data = b"" if body is None else json.dumps(body).encode()
        self.send_response(status)
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        if body is not None:
            self.send_header("Content-Type", "application/json; charset=utf-8")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def _dispatch(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length) if length else b""
        parts = urlsplit(self.path)
        segments = [s for s in parts.path.split("/") if s]
        service = self.server.service
        base = service.base
        if segments[:1] == ["_admin"]:
            status, body = service.admin(self.command, segments[1:], json.loads(raw or b"{}"))
            self._send(status, body)
            return
        if segments[:1] == ["v1.0"]:
            self._graph(raw, segments[1:], parts.query)
            return
        tenant = service.tenant(segments[0]) if segments else None
        if segments[1:] == ["v2.0", ".well-known", "openid-configuration"]:
            if tenant is None:
                self._send(*auth.no_tenant(segments[0]))
            else:
                self._send(200, auth.oidc_document(base, tenant))
            return
        if segments[1:] == ["oauth2", "v2.0", "token"] and self.command == "POST":
            if tenant is None:
                self._send(*auth.no_tenant(segments[0]))
            else:
                self._send(*auth.token(base, tenant, raw))
            return
        self._send(404, {"error": {"code": "NotFound", "message": f"no route {self.path}"}})

    def _graph(self, raw: bytes, segments: list[str], query: str) -> None:
        found = auth.bearer(
            self.server.service.base, self.server.service.tenants, self.headers.get("Authorization")
        )
        if isinstance(found, str):
            fault = {
                "error": {
                    "code": "InvalidAuthenticationToken",
                    "message": found,
                    "innerError": {"request-id": str(uuid.uuid4())},
                }
            }
            self._send(401, fault, {"WWW-Authenticate": 'Bearer realm=""'})
            return
        tenant, claims = found
        body = json.loads(raw) if raw else None
        headers = {k.lower(): v for k, v in self.headers.items()}
        request = Request(
            self.command,
            "/".join(segments),
            dict(parse_qsl(query, keep_blank_values=True)),
            headers,
            body,
        )
        answer: Response = Graph(tenant, self.server.service.base, claims).answer(request)
        self._send(answer.status, answer.body, answer.headers)

    do_GET = do_POST = do_PATCH = do_PUT = do_DELETE = _dispatch


class GraphHttpServer(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, cert: Path, key: Path) -> None:
        super().__init__(("127.0.0.1", 0), Handler)
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.load_cert_chain(cert, key)
        self.socket = context.wrap_socket(self.socket, server_side=True)
        self.service = Service()
        self.service.base = f"https://127.0.0.1:{self.server_address[1]}"
