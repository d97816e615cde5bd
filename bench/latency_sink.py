"""A destination that takes a fixed time per write: a stand-in for a remote directory or
API, loaded as a plugin provider (`provider = "plugin"`) by bench/scale_out.py.

It reads as empty and keeps nothing: only the time each write takes matters here.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

from schemas.connections import PluginConnection
from schemas.jobs import Endpoint
from schemas.plan import Change
from schemas.values import Record
from services.providers.base import Layout, Outcome


class LatencySink:
    def __init__(self, connection: PluginConnection, endpoint: Endpoint, layout: Layout) -> None:
        self.latency = float(connection.options.get("latency_ms", 5)) / 1000

    async def open(self, *, write: bool) -> None:
        return None

    async def read(self, batch_size: int) -> AsyncIterator[list[Record]]:
        return
        yield []  # an async generator that yields nothing

    def canonical(self, record: Record) -> Record:
        return record

    async def apply(self, changes: list[Change]) -> list[Outcome]:
        outcomes = []
        for _ in changes:  # one write after the other, as a remote server would take them
            await asyncio.sleep(self.latency)
            outcomes.append(Outcome())
        return outcomes

    async def close(self) -> None:
        return None
