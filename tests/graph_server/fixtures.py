"""pytest fixtures: one Graph server per session, a tenant of its own per test."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import pytest

from .client import GraphServer, Tenant


@pytest.fixture(scope="session")
def graph(tmp_path_factory: pytest.TempPathFactory) -> Iterator[GraphServer]:
    server = GraphServer(tmp_path_factory.mktemp("graph"))
    server.start()
    yield server
    server.stop()


@pytest.fixture
def graph_tenant(graph: GraphServer, request: pytest.FixtureRequest) -> Tenant:
    name = re.sub(r"[^a-z0-9]+", "-", request.node.name.lower())[-40:].strip("-") or "t"
    return graph.tenant(name)


def secret_file(folder: Path, tenant: Tenant) -> Path:
    """The seeder's secret in a file, as a connection's `secret = { file = … }` reads it."""
    path = folder / f"{tenant.name}-secret"
    path.write_text(tenant.seeder["secret"] + "\n")
    return path
