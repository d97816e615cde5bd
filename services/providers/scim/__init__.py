"""SCIM 2.0 services (RFC 7643/7644): the descriptor the registry reads (provider.py does
the work)."""

from __future__ import annotations

from collections.abc import Sequence

from core.checks.facts import BASIC, ProviderFacts
from schemas.connections import ScimConnection
from schemas.jobs import Endpoint

from ..base import Layout, Provider
from ..descriptor import Descriptor
from .checks import check_connection, check_endpoint, has_accounts, mandatory_fields


def _open(connection: ScimConnection, endpoint: Endpoint, layout: Layout) -> Provider:
    from .provider import ScimProvider

    return ScimProvider(connection, endpoint, layout)


async def _reach(connection: ScimConnection, writers: Sequence[str]) -> str:
    from .reach import reach

    return await reach(connection, writers)


PROVIDER = Descriptor(
    connection=ScimConnection,
    facts=ProviderFacts(
        tag="scim",
        actions=BASIC | {"disable", "enable"},  # `active` false / true
        own_scope=(("object_classes", "query"), '{ object_classes = ["Group"] }'),
        mandatory=mandatory_fields,
        accounts=has_accounts,
        check_connection=check_connection,
        check_endpoint=check_endpoint,
    ),
    open=_open,
    reach=_reach,
)
