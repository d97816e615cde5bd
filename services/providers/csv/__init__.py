"""CSV files in a folder: the descriptor the registry reads (provider.py does the work)."""

from __future__ import annotations

from collections.abc import Sequence

from core.checks.facts import ProviderFacts
from core.errors import BadInput
from schemas.connections import CsvConnection
from schemas.jobs import Endpoint

from ..base import Layout, Provider
from ..descriptor import Descriptor
from .checks import check_connection, check_endpoint


def _open(connection: CsvConnection, endpoint: Endpoint, layout: Layout) -> Provider:
    if not endpoint.file:
        where = f"connection {endpoint.connection!r}"
        raise BadInput(f"csv ({where}): the endpoint needs `file:`, e.g. people.csv")
    from .provider import CsvProvider

    return CsvProvider(connection, endpoint, layout)


async def _reach(connection: CsvConnection, writers: Sequence[str]) -> str:
    from .reach import reach

    return await reach(connection, writers)


PROVIDER = Descriptor(
    connection=CsvConnection,
    facts=ProviderFacts(
        tag="csv",
        one_object_type=True,  # a file holds one kind of record
        own_scope=(("file",), '{ file = "groups.csv" }'),
        check_connection=check_connection,
        check_endpoint=check_endpoint,
    ),
    open=_open,
    reach=_reach,
)
