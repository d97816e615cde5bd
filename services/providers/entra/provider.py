"""Microsoft Entra ID through Microsoft Graph: one side of a job is the tenant's users or
its groups (`object_classes = ["group"]`), narrowed by `query`, a Graph $filter.

Signing in is signin.py (msal, client credentials); HTTP, the pace and Graph's
throttling are graph.py and limits.py; reading is read.py (delta.py for incremental
runs), writing write.py (through lookup.py, which finds objects by their key)."""

from __future__ import annotations

from collections.abc import AsyncIterator

from schemas.connections import EntraConnection
from schemas.jobs import Endpoint
from schemas.plan import Change
from schemas.values import Record

from ..base import Layout, Outcome
from .checks import kind_of
from .delta import Delta
from .graph import Graph
from .read import Reader
from .values import EVERY, USER, canonical
from .write import Writer

FOLDED = frozenset({"userprincipalname", "mail"})
"""The fields whose values Graph compares without case (value_folds)."""


class EntraProvider:
    keys_fold = True
    """Keys (userPrincipalName, mail, displayName) compare without case (base.py)."""

    def __init__(self, connection: EntraConnection, endpoint: Endpoint, layout: Layout) -> None:
        self._connection = connection
        self._layout = layout
        self._kind = kind_of(endpoint)
        self._query = endpoint.query
        self._graph = Graph(connection)
        self._write = False
        self._delta: Delta | None = None

    def value_folds(self, field: str) -> bool:
        """Whether Entra ID compares `field`'s values without case: userPrincipalName and
        mail (a sign-in name or an address in another case is the same user's), which a
        reference `by` it is looked up as (base.py)."""
        return field.casefold() in FOLDED

    def _fields(self) -> list[str]:
        layout = self._layout
        if self._write:
            fields = list(dict.fromkeys([*layout.keys, *layout.fields]))
            return fields if layout.fields else [*fields, *EVERY[self._kind]]
        if layout.reads:
            return list(dict.fromkeys([*layout.keys, *layout.reads]))
        return list(dict.fromkeys([*layout.keys, *layout.fields, *EVERY[self._kind]]))

    def _reader(self) -> Reader:
        return Reader(
            self._graph,
            self._kind,
            self._fields(),
            self._query,
            self._connection.member_key,
            identifiers=self._layout.identifiers,
            page_size=self._connection.page_size,
        )

    async def open(self, *, write: bool) -> None:
        self._write = write
        await self._graph.open()

    def read(self, batch_size: int) -> AsyncIterator[list[Record]]:
        return self._reader().records(batch_size)

    def read_changed(
        self, batch_size: int, since: str | None, field: str | None
    ) -> AsyncIterator[list[Record]]:
        self._delta = Delta(self._graph, self._reader(), self._kind, self._query)
        return self._delta.read(batch_size, since, field)

    def watermark(self) -> str | None:
        return self._delta.mark if self._delta is not None else None

    def fell_back(self) -> str | None:
        return self._delta.fell_back if self._delta is not None else None

    def canonical(self, record: Record) -> Record:
        return canonical(record)

    async def apply(self, changes: list[Change]) -> list[Outcome]:
        if not changes:
            return []
        writer = Writer(self._graph, self._kind, self._layout, self._connection.member_key)
        return await writer.apply(changes)

    def identifier(self, change: Change) -> str | None:
        """What a new user is named by in members and managers: its member key."""
        if self._kind != USER:
            return None
        wanted = self._connection.member_key.lower()
        for values in (change.set, change.match):
            for name, value in values.items():
                if name.lower() == wanted and isinstance(value, str):
                    return value
        return None

    async def close(self) -> None:
        await self._graph.close()
