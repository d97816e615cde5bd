"""Records other systems push to idsync's SCIM endpoint (`provider = "scim-inbound"`): the
descriptor the registry reads (provider.py does the work). A source only."""

from __future__ import annotations

from collections.abc import Sequence

from core.checks.facts import Problem, ProviderFacts
from schemas.connections import Connection, ScimInboundConnection
from schemas.ids import is_slug
from schemas.jobs import Endpoint

from ..base import Layout, Provider
from ..descriptor import Descriptor


def _open(connection: ScimInboundConnection, endpoint: Endpoint, layout: Layout) -> Provider:
    from .provider import PushedProvider

    return PushedProvider(connection, endpoint, layout)


async def _reach(connection: ScimInboundConnection, writers: Sequence[str]) -> str:
    who = ", ".join(connection.systems)
    return (
        f"records pushed to the SCIM endpoint by {who} (a source only; "
        "`idsync serve scim_endpoint` receives them)"
    )


def _check(connection: Connection) -> list[Problem]:
    if not isinstance(connection, ScimInboundConnection):
        return []
    if not connection.systems:
        return [("systems", 'expected the system users who push here, such as ["crm"], got []')]
    bad = [s for s in connection.systems if not is_slug(s)]
    return [("systems", f"expected user names (a-z, 0-9, _ and -), got {bad}")] if bad else []


PROVIDER = Descriptor(
    connection=ScimInboundConnection,
    facts=ProviderFacts(
        tag="scim-inbound",
        actions=frozenset(),  # nothing is written here: a source only
        check_connection=_check,
    ),
    open=_open,
    reach=_reach,
)
