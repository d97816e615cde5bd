"""SQLite tables: the descriptor the registry reads (provider.py does the work)."""

from __future__ import annotations

from collections.abc import Sequence

from core.checks.facts import ProviderFacts
from core.errors import BadInput
from schemas.connections import SqliteConnection
from schemas.jobs import Endpoint

from ..base import Layout, Provider
from ..descriptor import Descriptor
from .checks import check_endpoint


def _open(connection: SqliteConnection, endpoint: Endpoint, layout: Layout) -> Provider:
    if not endpoint.table:
        where = f"connection {endpoint.connection!r}"
        raise BadInput(f"sqlite ({where}): the endpoint needs `table:`, e.g. people")
    from .provider import SqliteProvider

    return SqliteProvider(connection, endpoint, layout)


async def _reach(connection: SqliteConnection, writers: Sequence[str]) -> str:
    from .reach import reach

    return await reach(connection, writers)


PROVIDER = Descriptor(
    connection=SqliteConnection,
    facts=ProviderFacts(
        tag="sqlite",
        one_object_type=True,  # a table holds one kind of record
        own_scope=(("table", "query"), '{ table = "groups" }'),
        check_endpoint=check_endpoint,
    ),
    open=_open,
    reach=_reach,
)
