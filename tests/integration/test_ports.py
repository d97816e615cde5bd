"""Each of the tests' throwaway servers, given a port that is taken when it starts,
starts on another one, serves there, and is the one answering (tests/ports.py)."""

from __future__ import annotations

import asyncio
import shutil
import smtplib
import tempfile
from collections.abc import Iterator
from pathlib import Path

import httpx
import nats
import pytest

from tests import mysql_server, postgresql_server
from tests.ldap_server import Slapd, slapd_binary
from tests.nats_cluster import NatsCluster
from tests.nats_sites import Server
from tests.ports_taken import Taken
from tests.scim_server import BINARY, TOKEN, ScimServer

from .mailbox import Mailbox


def moved(taken: Taken, port: int, picks: int = 1) -> None:
    """The server was handed the taken port first, was started a second time on ports
    picked afresh (`picks` each time), and serves on another."""
    assert taken.picks[0] == taken.port
    assert len(taken.picks) == 2 * picks
    assert port != taken.port and port in taken.picks[picks:]


async def answers(url: str) -> bool:
    client = await nats.connect(url, connect_timeout=5, allow_reconnect=False)
    try:
        return bool(client.is_connected)
    finally:
        await client.close()


async def test_a_nats_server_of_a_site_moves_to_a_free_port(taken: Taken, tmp_path: Path) -> None:
    server = Server("hub", tmp_path, "")
    await asyncio.to_thread(server.start)
    try:
        moved(taken, server.port, picks=2)  # client and monitoring
        assert await answers(server.url)
    finally:
        server.stop()


async def test_a_cluster_moves_to_free_ports(taken: Taken, tmp_path: Path) -> None:
    cluster = await asyncio.to_thread(NatsCluster(tmp_path).start)
    try:
        moved(taken, cluster.nodes[0].client_port, picks=9)  # three for each node
        assert all([await answers(node.url) for node in cluster.nodes])
    finally:
        cluster.stop()


def test_slapd_moves_to_a_free_port(taken: Taken, tmp_path: Path) -> None:
    if slapd_binary() is None or shutil.which("ldapadd") is None:
        pytest.skip("needs OpenLDAP: install the Debian packages slapd and ldap-utils")
    server = Slapd(tmp_path / "slapd")
    server.start()
    try:
        moved(taken, server.port)
        assert server._answers()  # a bind as its administrator
    finally:
        server.stop()


def test_the_scim_server_moves_to_a_free_port(taken: Taken, tmp_path: Path) -> None:
    if not BINARY.exists():
        pytest.skip("scim2-server is not installed: pip install -e '.[dev]'")
    server = ScimServer(tmp_path)
    server.start()
    try:
        moved(taken, server.port)
        headers = {"Authorization": f"Bearer {TOKEN}"}
        assert httpx.get(f"{server.new_tenant()}/Users", headers=headers).status_code == 200
    finally:
        server.stop()


def test_the_mailbox_moves_to_a_free_port(taken: Taken) -> None:
    box = Mailbox()
    box.start()
    try:
        moved(taken, box.port)
        with smtplib.SMTP("127.0.0.1", box.port, timeout=10) as smtp:
            smtp.sendmail("a@example.org", ["b@example.org"], "Subject: hi\r\n\r\nhello\r\n")
        assert [mail.to for mail in box.received] == [["b@example.org"]]
    finally:
        box.stop()


@pytest.fixture
def folder() -> Iterator[Path]:
    """A folder the database servers' own users may enter (pytest's are root's only)."""
    made = Path(tempfile.mkdtemp(prefix="idsync-ports-"))
    yield made
    shutil.rmtree(made, ignore_errors=True)


def test_postgresql_moves_to_a_free_port(taken: Taken, folder: Path) -> None:
    if postgresql_server.bin_folder() is None:
        pytest.skip("needs PostgreSQL: install the Debian package postgresql")
    cluster = postgresql_server.Cluster(folder)
    try:
        server = cluster.start()
        moved(taken, server.port)
        assert server.psql("SELECT 41 + 1").strip() == "42"  # over TCP, on its port
    finally:
        cluster.stop()


def test_mariadb_moves_to_a_free_port(taken: Taken, folder: Path) -> None:
    if mysql_server.server_binary() is None or not shutil.which("mariadb-install-db"):
        pytest.skip("needs MariaDB: install the Debian package mariadb-server")
    instance = mysql_server.Instance(folder)
    try:
        server = instance.start()
        moved(taken, server.port)
        assert server.sql("SELECT 41 + 1").strip() == "42"  # over TCP, on its port
    finally:
        instance.stop()
