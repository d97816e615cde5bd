"""The records pushed to a `scim-inbound` connection, as a source: the latest record of
each user pushed (services/common/pushed.py), every SCIM attribute under the field name
that reads it (`userName`, `name.givenName`, `emails[type eq "work"].value`, …)."""

from __future__ import annotations

from collections.abc import AsyncIterator

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

    def canonical(self, record: Record) -> Record:
        return normalize(dict(record))

    async def apply(self, changes: list[Change]) -> list[Outcome]:
        return [Outcome(error="records pushed to idsync are a source only") for _ in changes]

    async def close(self) -> None:
        return None
