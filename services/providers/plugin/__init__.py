"""Providers of your own (`provider = "plugin"`): the descriptor the registry reads
(provider.py loads the factory the connection names)."""

from __future__ import annotations

from collections.abc import Sequence

from core.checks.facts import ProviderFacts
from schemas.connections import Connection, PluginConnection
from schemas.jobs import Endpoint

from ..base import Layout, Provider
from ..descriptor import Descriptor


def _open(connection: PluginConnection, endpoint: Endpoint, layout: Layout) -> Provider:
    from .provider import open_plugin

    return open_plugin(connection, endpoint, layout)


async def _reach(connection: PluginConnection, writers: Sequence[str]) -> str:
    from .reach import reach

    return await reach(connection, writers)


def _actions(connection: Connection) -> frozenset[str]:
    """A plugin's connection lists the actions it can apply."""
    if not isinstance(connection, PluginConnection):
        return frozenset()
    return frozenset(connection.actions)


PROVIDER = Descriptor(
    connection=PluginConnection,
    facts=ProviderFacts(tag="plugin", actions_of=_actions),
    open=_open,
    reach=_reach,
)
