"""The records pushed to a `scim-inbound` connection, as a source: the latest record of
each user pushed (services/common/pushed.py), every SCIM attribute under the field name
that reads it (`userName`, `name.givenName`, `emails[type eq "work"].value`, …).
A run scoped to keys (each push asks for one) looks its records up by their own key
(externalId, else userName) where the job's key is copied from it."""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence

from core.errors import BadInput
from schemas.connections import ScimInboundConnection
from schemas.jobs import Endpoint
from schemas.plan import Change
from schemas.values import Record, normalize
from services.common import pushed

from ..base import Layout, Outcome


class PushedProvider:
    rereadable = False

    def __init__(
        self, connection: ScimInboundConnection, endpoint: Endpoint, layout: Layout
    ) -> None:
        self._connection = connection

    async def open(self, *, write: bool) -> None:
        if write:
            raise BadInput(
                f"connection {self._connection.id!r} holds records pushed to idsync: "
                "a source only, it cannot be written"
            )

    async def read(self, batch_size: int) -> AsyncIterator[list[Record]]:
        async for batch in pushed.read(pushed.bound(), self._connection.id, batch_size):
            yield batch

    def reads_keys(self, field: str) -> bool:
        return field in pushed.OWN_KEYS

    def read_keys(
        self, field: str, values: Sequence[str], batch_size: int
    ) -> AsyncIterator[list[Record]]:
        return pushed.read_keys(pushed.bound(), self._connection.id, field, values, batch_size)

    def canonical(self, record: Record) -> Record:
        return normalize(dict(record))

    async def apply(self, changes: list[Change]) -> list[Outcome]:
        return [Outcome(error="records pushed to idsync are a source only") for _ in changes]

    async def close(self) -> None:
        return None
