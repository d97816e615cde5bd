"""Active Directory (and Samba AD domain controllers): the descriptor the registry reads
(provider.py does the work, on the LDAP provider)."""

from __future__ import annotations

from collections.abc import Sequence

from core.checks.facts import BASIC, ProviderFacts
from core.errors import BadInput
from schemas.connections import ActiveDirectoryConnection
from schemas.jobs import Endpoint

from ..base import Layout, Provider
from ..descriptor import Descriptor
from ..ldap.checks import check_connection, check_endpoint
from ..ldap.classes import mandatory_fields
from .kinds import has_accounts


def _open(connection: ActiveDirectoryConnection, endpoint: Endpoint, layout: Layout) -> Provider:
    if not endpoint.container:
        where, example = f"connection {endpoint.connection!r}", "OU=People,DC=example,DC=org"
        raise BadInput(f"ad ({where}): the endpoint needs `container:`, e.g. {example}")
    from .provider import AdProvider

    return AdProvider(connection, endpoint, layout)


async def _reach(connection: ActiveDirectoryConnection, writers: Sequence[str]) -> str:
    from ..ldap.reach import reach  # a domain controller answers as any directory does

    return await reach(connection, writers)


PROVIDER = Descriptor(
    connection=ActiveDirectoryConnection,
    facts=ProviderFacts(
        tag="ad",
        # Disable and enable = bits of userAccountControl (users).
        actions=BASIC | {"move", "disable", "enable"},
        native_changes=True,  # uSNChanged
        mandatory=mandatory_fields,
        accounts=has_accounts,
        check_connection=check_connection,
        check_endpoint=check_endpoint,
    ),
    open=_open,
    reach=_reach,
)
