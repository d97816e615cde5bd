"""Shared fixtures: a real nats-server per test, on random loopback ports."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from hypothesis import settings

from services.common.embedded import EmbeddedNats

# Property tests assert what the code gives, never how fast: no deadline per example (a
# machine busy with other work made examples of 200 ms fail). Speed is measured in bench/.
settings.register_profile("idsync", deadline=None)
settings.load_profile("idsync")

# `slapd`/`ldap_base` (OpenLDAP) and `samba`/`ad_base` (Samba AD): real directory servers;
# `postgresql`/`pg_database`: a real PostgreSQL server and a database per test;
# `mysql`/`my_database`: a real MariaDB server and a database per test;
# `scim_server`/`scim_url`: a real SCIM server (scim2-server) and a tenant per test;
# `graph`/`graph_tenant`: the tests' Microsoft Graph and a tenant per test;
# `secure`/`secured_services`: NATS with the users and permissions `idsync up` writes;
# `browser`: Debian's Chromium driven by Playwright (the portal's pages);
# `taken`: a port held by the test and handed out as the next one picked (tests/ports.py).
pytest_plugins = [
    "tests.ldap_server",
    "tests.ad_server",
    "tests.postgresql_server",
    "tests.mysql_server",
    "tests.scim_server",
    "tests.graph_server.fixtures",
    "tests.integration.secured",
    "tests.integration.browser",
    "tests.nats_cluster",
    "tests.nats_sites",
    "tests.ports_taken",
]


@pytest.fixture
def nats_server(tmp_path: Path) -> Iterator[EmbeddedNats]:
    server = EmbeddedNats(tmp_path / "nats")
    server.start()
    yield server
    server.stop()


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """The three-node cluster's tests run first, before any test starts the Samba AD DC
    (which then serves on loopback until the session ends): with that DC up, a fresh
    cluster's services were seen never to become ready, though the same tests pass
    alone, after every other kind of test, and on a machine without the DC."""
    items.sort(key=lambda item: item.path.name != "test_cluster.py")
