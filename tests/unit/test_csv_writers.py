"""Batches applied at once to one CSV file (a runner applies several at a time, runners on
one machine share a folder) each load, change and replace the file: one at a time, so
none loses another's rows."""

from __future__ import annotations

import asyncio
from pathlib import Path

from schemas.connections import CsvConnection
from schemas.jobs import Endpoint
from schemas.plan import Change
from services.providers import open_provider
from services.providers.base import Layout

LAYOUT = Layout(keys=("id",), fields=("id", "name"))


def creates(batch: int, size: int) -> list[Change]:
    keys = [f"b{batch:02d}-{n:03d}" for n in range(size)]
    return [Change(action="create", key=k, match={"id": k}, set={"id": k, "name": k}) for k in keys]


async def test_batches_applied_at_once_keep_every_row(tmp_path: Path) -> None:
    connection = CsvConnection(id="out", directory=str(tmp_path))
    endpoint = Endpoint(connection="out", file="people.csv")
    sides = [open_provider(connection, endpoint, LAYOUT) for _ in range(8)]
    for side in sides:
        await side.open(write=True)
    outcomes = await asyncio.gather(
        *(side.apply(creates(at, 200)) for at, side in enumerate(sides))
    )
    assert all(outcome.error is None for batch in outcomes for outcome in batch)
    reader = open_provider(connection, endpoint, LAYOUT)
    await reader.open(write=False)
    rows = [record async for batch in reader.read(1000) for record in batch]
    assert len(rows) == 8 * 200
    assert len({row["id"] for row in rows}) == 8 * 200
