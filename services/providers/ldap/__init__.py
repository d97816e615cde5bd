"""LDAP v3 directories: the descriptor the registry reads (provider.py does the work).
Active Directory (../ad) builds on this package."""

from __future__ import annotations

from collections.abc import Sequence

from core.checks.facts import BASIC, ProviderFacts
from core.errors import BadInput
from schemas.connections import LdapConnection
from schemas.jobs import Endpoint

from ..base import Layout, Provider
from ..descriptor import Descriptor
from .checks import check_connection, check_endpoint
from .classes import mandatory_fields


def _open(connection: LdapConnection, endpoint: Endpoint, layout: Layout) -> Provider:
    if not endpoint.container:
        where, example = f"connection {endpoint.connection!r}", "ou=People,dc=example,dc=org"
        raise BadInput(f"ldap ({where}): the endpoint needs `container:`, e.g. {example}")
    from .provider import LdapProvider

    return LdapProvider(connection, endpoint, layout)


async def _reach(connection: LdapConnection, writers: Sequence[str]) -> str:
    from .reach import reach

    return await reach(connection, writers)


PROVIDER = Descriptor(
    connection=LdapConnection,
    facts=ProviderFacts(
        tag="ldap",
        # Generic LDAP has no standard "disabled" attribute (AD and 389-DS each have their own).
        actions=BASIC | {"move"},
        native_changes=True,  # modifyTimestamp
        mandatory=mandatory_fields,
        check_connection=check_connection,
        check_endpoint=check_endpoint,
    ),
    open=_open,
    reach=_reach,
)
