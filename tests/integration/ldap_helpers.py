"""Helpers for LDAP tests: providers on the test slapd, and a proxy whose connections
can be cut mid-batch."""

from __future__ import annotations

import contextlib
import socket
import threading
from pathlib import Path
from typing import Any

import ldap3

from core.checks.job import check_job
from schemas.connections import LdapConnection, SecretRef
from schemas.jobs import Endpoint
from schemas.plan import Change
from schemas.values import Record, Value
from services.cli.client import Session
from services.common.definitions import load_connections, load_job
from services.providers import FACTS, open_provider
from services.providers.base import Layout, Provider
from tests.ldap_server import ADMIN_DN, ADMIN_PASSWORD, Slapd


def connection(tmp_path: Path, *urls: str, **fields: object) -> LdapConnection:
    secret = tmp_path / "ldap-password"
    secret.write_text(ADMIN_PASSWORD)
    defaults: dict[str, object] = {
        "id": "dir",
        "urls": list(urls),
        "bind_dn": ADMIN_DN,
        "password": SecretRef(file=str(secret)),
    }
    return LdapConnection(**{**defaults, **fields})  # type: ignore[arg-type]


async def provider(
    conn: LdapConnection, container: str, layout: Layout, *, write: bool = True, **endpoint: Any
) -> Provider:
    """An LDAP provider on `container`; `endpoint` holds the endpoint's other fields."""
    side = open_provider(conn, Endpoint(connection="dir", container=container, **endpoint), layout)
    await side.open(write=write)
    return side


def admin(server: Slapd) -> ldap3.Connection:
    return ldap3.Connection(server.url, ADMIN_DN, ADMIN_PASSWORD, auto_bind=True)


def add_ou(server: Slapd, dn: str) -> None:
    with admin(server) as conn:
        assert conn.add(dn, ["organizationalUnit"], {"ou": dn.split(",")[0][3:]}), conn.result


def entries(
    server: Slapd, base: str, flt: str = "(objectClass=inetOrgPerson)"
) -> dict[str, dict[str, list[bytes]]]:
    """DN → raw attribute values of every entry below `base` matching `flt`."""
    with admin(server) as conn:
        found = conn.extend.standard.paged_search(
            base, flt, attributes=["*"], paged_size=500, generator=False
        )
        return {e["dn"]: dict(e["raw_attributes"]) for e in found if e["type"] == "searchResEntry"}


async def read_all(side: Provider, batch_size: int = 1000) -> list[Record]:
    return [record async for batch in side.read(batch_size) for record in batch]


def create(uid: str, **fields: Value) -> Change:
    return Change(action="create", key=uid, match={"uid": uid}, set={"uid": uid, **fields})


USER = Layout(keys=("uid",), object_classes=("inetOrgPerson",))


class CuttableProxy:
    """Forwards 127.0.0.1:<port> to the server; `cut()` drops every open connection."""

    def __init__(self, target_port: int) -> None:
        self.target_port = target_port
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.port = self.listener.getsockname()[1]
        self.sockets: list[socket.socket] = []
        self.lock = threading.Lock()
        self.accepted = 0
        threading.Thread(target=self._accept, daemon=True).start()

    @property
    def url(self) -> str:
        return f"ldap://127.0.0.1:{self.port}"

    def _accept(self) -> None:
        while True:
            try:
                client, _ = self.listener.accept()
            except OSError:
                return
            upstream = socket.create_connection(("127.0.0.1", self.target_port))
            with self.lock:
                self.sockets += [client, upstream]
                self.accepted += 1
            for a, b in ((client, upstream), (upstream, client)):
                threading.Thread(target=self._pump, args=(a, b), daemon=True).start()

    @staticmethod
    def _pump(source: socket.socket, sink: socket.socket) -> None:
        with contextlib.suppress(OSError):
            while data := source.recv(65536):
                sink.sendall(data)
        for s in (source, sink):
            with contextlib.suppress(OSError):
                s.shutdown(socket.SHUT_RDWR)

    def cut(self) -> None:
        with self.lock:
            cut, self.sockets = self.sockets, []
        for s in cut:
            with contextlib.suppress(OSError):
                s.shutdown(socket.SHUT_RDWR)
            s.close()

    def close(self) -> None:
        """Stop accepting (shutdown wakes the thread blocked in accept) and cut."""
        with contextlib.suppress(OSError):
            self.listener.shutdown(socket.SHUT_RDWR)
        self.listener.close()
        self.cut()


async def define(session: Session, folder: Path, connections: str, job: str) -> str:
    """Writes the connections and the job file into `folder`, checks and stores them as
    `idsync connection apply` and `idsync job apply` would; the job's id."""
    (folder / "data").mkdir(parents=True, exist_ok=True)
    (folder / "connections.toml").write_text(connections)
    (folder / "job.toml").write_text(job)
    for conn in load_connections(folder / "connections.toml"):
        await session.store.put_connection(conn)
    loaded = load_job(folder / "job.toml")
    check_job(loaded, {c.id: c for c in await session.store.connections()}, FACTS)
    await session.store.put_job(loaded)
    return loaded.id
