"""PostgreSQL tables: the descriptor the registry reads (provider.py does the work)."""

from __future__ import annotations

from collections.abc import Sequence

from core.checks.facts import ProviderFacts
from schemas.connections import PostgresqlConnection
from schemas.jobs import Endpoint

from ..base import Layout, Provider
from ..descriptor import Descriptor
from ..sql.checks import need_table_or_query
from .checks import check_connection, check_endpoint


def _open(connection: PostgresqlConnection, endpoint: Endpoint, layout: Layout) -> Provider:
    need_table_or_query("postgresql", endpoint)
    from .provider import PostgresqlProvider

    return PostgresqlProvider(connection, endpoint, layout)


async def _reach(connection: PostgresqlConnection, writers: Sequence[str]) -> str:
    from .reach import reach

    return await reach(connection, writers)


PROVIDER = Descriptor(
    connection=PostgresqlConnection,
    facts=ProviderFacts(
        tag="postgresql",
        one_object_type=True,  # a table holds one kind of record
        own_scope=(("table", "query"), '{ table = "groups" }'),
        check_connection=check_connection,
        check_endpoint=check_endpoint,
    ),
    open=_open,
    reach=_reach,
)
