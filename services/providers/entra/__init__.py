"""Microsoft Entra ID through Microsoft Graph: the descriptor the registry reads
(provider.py does the work)."""

from __future__ import annotations

from collections.abc import Sequence

from core.checks.facts import BASIC, ProviderFacts
from schemas.connections import EntraConnection
from schemas.jobs import Endpoint

from ..base import Layout, Provider
from ..descriptor import Descriptor
from .checks import (
    check_connection,
    check_endpoint,
    has_accounts,
    mandatory_fields,
    read_only_fields,
)


def _open(connection: EntraConnection, endpoint: Endpoint, layout: Layout) -> Provider:
    from .provider import EntraProvider

    return EntraProvider(connection, endpoint, layout)


async def _reach(connection: EntraConnection, writers: Sequence[str]) -> str:
    from .reach import reach

    return await reach(connection, writers)


PROVIDER = Descriptor(
    connection=EntraConnection,
    facts=ProviderFacts(
        tag="entra",
        # Disable and enable = accountEnabled (users); no containers to move between.
        actions=BASIC | {"disable", "enable"},
        native_changes=True,  # delta queries
        mandatory=mandatory_fields,
        read_only=read_only_fields,
        accounts=has_accounts,
        check_connection=check_connection,
        check_endpoint=check_endpoint,
    ),
    open=_open,
    reach=_reach,
)
