"""Excel workbooks in a folder: the descriptor the registry reads (provider.py does the work)."""

from __future__ import annotations

from collections.abc import Sequence

from core.checks.facts import BASIC, ProviderFacts
from core.errors import BadInput
from schemas.connections import ExcelConnection
from schemas.jobs import Endpoint

from ..base import Layout, Provider
from ..descriptor import Descriptor
from .checks import check_endpoint


def _open(connection: ExcelConnection, endpoint: Endpoint, layout: Layout) -> Provider:
    if not endpoint.file:
        where = f"connection {endpoint.connection!r}"
        raise BadInput(f"excel ({where}): the endpoint needs `file:`, e.g. people.xlsx")
    from .provider import ExcelProvider

    return ExcelProvider(connection, endpoint, layout)


async def _reach(connection: ExcelConnection, writers: Sequence[str]) -> str:
    from .reach import reach

    return await reach(connection, writers)


PROVIDER = Descriptor(
    connection=ExcelConnection,
    facts=ProviderFacts(
        tag="excel",
        actions=BASIC | {"disable", "enable"},  # a disabled row is marked (endpoint `mark`)
        one_object_type=True,  # a sheet holds one kind of record
        own_scope=(("file", "sheet"), '{ sheet = "Groups" }'),
        check_endpoint=check_endpoint,
    ),
    open=_open,
    reach=_reach,
)
