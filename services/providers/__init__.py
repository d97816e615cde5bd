"""The provider registry: one package per `connection.provider` tag, read through its
descriptor (`PROVIDER`, descriptor.py).

Adding a provider is one new package (with the same rooms as the others: __init__.py
the descriptor, provider.py, checks.py, reach.py, …) and one name in PACKAGES below.
Loading the registry imports each package's descriptor only: a package's working
modules (ldap3, aiosqlite) are imported when a provider is opened or a reach tested.

`FACTS` is what the checks of jobs and connections (core/checks/) are given;
`open_provider` and `check_reachable` answer for every provider.
"""

from __future__ import annotations

import importlib
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from core.checks.facts import ProviderFacts, provider_of
from core.errors import BadInput
from schemas.connections import Connection
from schemas.jobs import Endpoint

from .base import Layout, Outcome, Provider, ProviderFactory
from .descriptor import Descriptor

__all__ = [
    "FACTS",
    "PROVIDERS",
    "Layout",
    "Outcome",
    "Provider",
    "ProviderFactory",
    "check_reachable",
    "descriptor_of",
    "load_providers",
    "open_provider",
]

PACKAGES = (
    "csv",
    "excel",
    "sqlite",
    "postgresql",
    "mysql",
    "ldap",
    "ad",
    "scim",
    "scim_inbound",
    "entra",
    "plugin",
)
"""The provider packages of this folder, one per tag."""


def _descriptor(package: str) -> Descriptor[Any]:
    found = getattr(importlib.import_module(f"{__name__}.{package}"), "PROVIDER", None)
    if not isinstance(found, Descriptor):
        raise TypeError(f"{__name__}.{package} has no PROVIDER descriptor")
    return found


_PACKAGE_OF: Mapping[str, str] = {_descriptor(package).tag: package for package in PACKAGES}
"""Each tag's package."""
PROVIDERS: Mapping[str, Descriptor[Any]] = {
    tag: _descriptor(package) for tag, package in _PACKAGE_OF.items()
}
"""Descriptors by tag."""
FACTS: Mapping[str, ProviderFacts] = {tag: d.facts for tag, d in PROVIDERS.items()}
"""What the checks of jobs and connections know of each provider, by tag."""


def descriptor_of(connection: Connection) -> Descriptor[Any]:
    """The descriptor of a connection's provider."""
    tag = provider_of(connection)
    found = PROVIDERS.get(tag)
    if found is None or not isinstance(connection, found.connection):
        raise BadInput(f"connection {connection.id!r}: no provider {tag!r} here")
    return found


def open_provider(connection: Connection, endpoint: Endpoint, layout: Layout) -> Provider:
    """The provider for one side of a job (not opened yet: call `open` next). It checks
    that the endpoint names what the provider needs before any file or database is
    touched, so a job without `file:` or `table:` fails naming the setting to add."""
    return descriptor_of(connection).open(connection, endpoint, layout)


def load_providers(connections: Iterable[Connection]) -> list[str]:
    """The working modules of the connections' providers imported (each package's
    provider.py, and the drivers it uses), as opening one of them first would; the tags
    loaded. A runner loads them as it starts, so that a run's first read does not."""
    tags = sorted({provider_of(connection) for connection in connections} & _PACKAGE_OF.keys())
    for tag in tags:
        importlib.import_module(f"{__name__}.{_PACKAGE_OF[tag]}.provider")
    return tags


async def check_reachable(connection: Connection, writers: Sequence[str] = ()) -> str:
    """A sentence saying what was found; Unreachable saying what is wrong. `writers`: the
    jobs writing to this connection — a destination they could not write is
    WriteFailed; one nobody writes to is only said to be read-only."""
    return await descriptor_of(connection).reach(connection, writers)
