"""A provider of the tests' own, loaded as a plugin: it keeps what it is told to write
in a JSON file (options.path) and reads it back."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from pathlib import Path

from schemas.connections import PluginConnection
from schemas.jobs import Endpoint
from schemas.plan import Change
from schemas.values import Record
from services.providers.base import Layout, Outcome


class RecordingProvider:
    def __init__(self, connection: PluginConnection, endpoint: Endpoint, layout: Layout) -> None:
        self.path = Path(str(connection.options["path"]))
        self.keys = layout.keys

    def _load(self) -> dict[str, Record]:
        return json.loads(self.path.read_text()) if self.path.exists() else {}

    async def open(self, *, write: bool) -> None:
        return None

    async def read(self, batch_size: int) -> AsyncIterator[list[Record]]:
        records = list(self._load().values())
        for start in range(0, len(records), batch_size):
            yield records[start : start + batch_size]

    def canonical(self, record: Record) -> Record:
        return record

    async def apply(self, changes: list[Change]) -> list[Outcome]:
        stored = self._load()
        for change in changes:
            key = "/".join(str(change.match[k]) for k in self.keys)
            if change.action == "delete":
                stored.pop(key, None)
                continue
            record = {**stored.get(key, {}), **change.match, **change.set}
            for name in change.clear:
                record.pop(name, None)
            stored[key] = record
        self.path.write_text(json.dumps(stored))
        return [Outcome() for _ in changes]

    async def close(self) -> None:
        return None
