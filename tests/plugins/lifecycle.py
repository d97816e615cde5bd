"""A destination of the tests' own that can disable and enable: it keeps its objects and
a log of every change applied in a JSON file (options.path), for the lifecycle tests."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

from schemas.connections import PluginConnection
from schemas.jobs import Endpoint
from schemas.plan import Change
from schemas.values import Record
from services.runner.providers.base import Layout, Outcome


class LifecycleProvider:
    def __init__(self, connection: PluginConnection, endpoint: Endpoint, layout: Layout) -> None:
        self.path = Path(str(connection.options["path"]))
        self.keys = layout.keys

    def _load(self) -> dict[str, Any]:
        if self.path.exists():
            loaded: dict[str, Any] = json.loads(self.path.read_text())
            return loaded
        return {"objects": {}, "disabled": [], "log": []}

    async def open(self, *, write: bool) -> None:
        return None

    async def read(self, batch_size: int) -> AsyncIterator[list[Record]]:
        records = list(self._load()["objects"].values())
        for start in range(0, len(records), batch_size):
            yield records[start : start + batch_size]

    def canonical(self, record: Record) -> Record:
        return record

    async def apply(self, changes: list[Change]) -> list[Outcome]:
        stored = self._load()
        objects, disabled = stored["objects"], set(stored["disabled"])
        for change in changes:
            key = "/".join(str(change.match[k]) for k in self.keys)
            stored["log"].append([change.action, key])
            if change.action == "delete":
                objects.pop(key, None)
                disabled.discard(key)
            elif change.action == "disable":
                disabled.add(key)
            elif change.action == "enable":
                disabled.discard(key)
            else:
                record = {**objects.get(key, {}), **change.match, **change.set}
                for name in change.clear:
                    record.pop(name, None)
                objects[key] = record
        stored["disabled"] = sorted(disabled)
        self.path.write_text(json.dumps(stored))
        return [Outcome() for _ in changes]

    async def close(self) -> None:
        return None
