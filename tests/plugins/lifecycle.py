"""A destination of the tests' own that can disable, enable and move: it keeps its objects
and a log of every change applied in a JSON file (options.path), for the lifecycle tests.

Each object type's endpoint `query` names its own namespace in the file (users and groups
of one job do not mix); `options.rereadable = true` makes it a side that is cheap to
read twice, so large plans take the low-memory path (services/runner/planning/low_memory.py);
`options.lookups = true` makes it look objects up by their first key (a `KeyReader`), so
runs scoped to keys and incremental runs read only their objects (planning/scoped.py).
Each read is noted in a file beside the objects' (`reads_of`): "read" for a whole read,
"keys" for a lookup.
Told to (`Layout.containers`), it says where each object is under "@container": where it
was created or moved to, else `DEFAULT_CONTAINER`. A move to a container the file lists
under "missing" (`MISSING`) fails, as a directory's move to an OU not there does.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Sequence
from pathlib import Path
from typing import Any

from schemas.connections import PluginConnection
from schemas.jobs import Endpoint
from schemas.plan import Change
from schemas.values import Record
from services.providers.base import Layout, Outcome

DEFAULT_CONTAINER = "ou=default"
"""Where an object created or moved back without a container is."""
MISSING = "missing"
"""The file's list of containers a move to fails (a test's own, beside the namespaces)."""


def reads_of(path: Path) -> list[str]:
    """The reads of the destination whose objects are in `path`, in order."""
    reads = path.with_name(path.name + ".reads")
    return reads.read_text().split() if reads.exists() else []


def empty() -> dict[str, Any]:
    return {"objects": {}, "disabled": [], "containers": {}, "log": []}


class LifecycleProvider:
    def __init__(self, connection: PluginConnection, endpoint: Endpoint, layout: Layout) -> None:
        self.path = Path(str(connection.options["path"]))
        self.keys = layout.keys
        self.space = endpoint.query or ""
        self.rereadable = bool(connection.options.get("rereadable", False))
        self.containers = layout.containers
        self.lookups = bool(connection.options.get("lookups", False))

    def _load(self) -> dict[str, Any]:
        if self.path.exists():
            loaded: dict[str, Any] = json.loads(self.path.read_text())
            return loaded
        return {}

    def _space(self, stored: dict[str, Any]) -> dict[str, Any]:
        space: dict[str, Any] = stored.setdefault(self.space, empty())
        return space

    async def open(self, *, write: bool) -> None:
        return None

    def _noted(self, read: str) -> None:
        with self.path.with_name(self.path.name + ".reads").open("a") as reads:
            reads.write(read + "\n")

    def reads_keys(self, field: str) -> bool:
        return self.lookups and field == self.keys[0]

    async def read_keys(
        self, field: str, values: Sequence[str], batch_size: int
    ) -> AsyncIterator[list[Record]]:
        self._noted("keys")
        wanted = set(values)
        async for batch in self._records(batch_size):
            if found := [record for record in batch if record.get(field) in wanted]:
                yield found

    async def read(self, batch_size: int) -> AsyncIterator[list[Record]]:
        self._noted("read")
        async for batch in self._records(batch_size):
            yield batch

    async def _records(self, batch_size: int) -> AsyncIterator[list[Record]]:
        space = self._space(self._load())
        records = list(space["objects"].values())
        if self.containers:
            where = space["containers"]
            records = [
                {**record, "@container": where.get(key, DEFAULT_CONTAINER)}
                for key, record in space["objects"].items()
            ]
        for start in range(0, len(records), batch_size):
            yield records[start : start + batch_size]

    def canonical(self, record: Record) -> Record:
        return record

    async def apply(self, changes: list[Change]) -> list[Outcome]:
        stored = self._load()
        space = self._space(stored)
        objects, disabled = space["objects"], set(space["disabled"])
        outcomes = [Outcome() for _ in changes]
        for at, change in enumerate(changes):
            key = "/".join(str(change.match[k]) for k in self.keys)
            where = change.container or DEFAULT_CONTAINER
            if change.action == "move" and where in stored.get(MISSING, []):
                outcomes[at] = Outcome(error=f"no container {where} to move {key} to")
                continue
            space["log"].append([change.action, key])
            if change.action == "delete":
                objects.pop(key, None)
                disabled.discard(key)
            elif change.action == "disable":
                disabled.add(key)
            elif change.action == "enable":
                disabled.discard(key)
            if change.action in ("create", "move", "disable") and change.container:
                space["containers"][key] = change.container
            elif change.action == "move":
                space["containers"].pop(key, None)  # back where new objects go
            if change.action in ("create", "update"):
                record = {**objects.get(key, {}), **change.match, **change.set}
                for name in change.clear:
                    record.pop(name, None)
                objects[key] = record
        space["disabled"] = sorted(disabled)
        self.path.write_text(json.dumps(stored))
        return outcomes

    async def close(self) -> None:
        return None
