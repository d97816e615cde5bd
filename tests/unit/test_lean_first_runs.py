"""A first run from a source that cannot say its size (a directory, a service) into an
empty table is planned by the lean planner, its creates kept on disk as they are planned
(spill.py), as a first run from a large file is: however large the directory, the
runner's memory stays flat. A re-run, its table filled, is planned as before."""

from __future__ import annotations

import sqlite3
from collections.abc import AsyncIterator
from pathlib import Path
from typing import cast

import pytest

from core.engine.keys import DuplicateKey
from schemas.connections import SqliteConnection
from schemas.jobs import Endpoint, FieldMap, Job, ObjectMapping
from schemas.values import Record
from services.providers import open_provider
from services.providers.base import Layout, Provider
from services.runner.planning import plan_job
from services.runner.planning.low_memory import lean_enough
from services.runner.planning.sides import Sides

MAPPING = ObjectMapping(keys=["id"], fields=[FieldMap(to="id"), FieldMap(to="mail")])
LAYOUT = Layout(keys=("id",), fields=("id", "mail"))


class Directory:
    """A source with no `size_hint`: its size is known once it is read."""


async def test_a_first_run_from_a_source_of_unknown_size_is_planned_lean(
    tmp_path: Path,
) -> None:
    path = tmp_path / "people.db"
    connection = SqliteConnection(path=str(path))

    async def lean(keys: list[str] | None = None) -> bool:
        """Whether the job would be planned lean, the table as it is now."""
        table = open_provider(connection, Endpoint(connection="db", table="people"), LAYOUT)
        await table.open(write=True)
        try:
            return await lean_enough(MAPPING, Sides(cast(Provider, Directory()), table), keys)
        finally:
            await table.close()

    assert await lean()  # no table yet
    with sqlite3.connect(path) as conn:
        conn.execute("CREATE TABLE people (id TEXT PRIMARY KEY, mail TEXT)")
    assert await lean()  # an empty table
    with sqlite3.connect(path) as conn:
        conn.execute("INSERT INTO people VALUES ('p1', 'p1@example.org')")
    assert not await lean()  # a re-run: in memory, as before
    assert not await lean(["p1"])  # a run scoped to keys: in memory


class ReadOnce:
    """A plugin's source of unknown size that cannot be read twice, holding a key twice."""

    def __init__(self) -> None:
        self.reads = 0

    async def read(self, batch_size: int) -> AsyncIterator[list[Record]]:
        self.reads += 1
        if self.reads > 1:
            raise RuntimeError("this feed is read once")
        yield [{"id": "p1", "mail": "a@example.org"}, {"id": "p1", "mail": "b@example.org"}]

    def canonical(self, record: Record) -> Record:
        return record


async def test_a_key_twice_in_a_source_read_once_is_refused_as_found(tmp_path: Path) -> None:
    """Its first run planned lean, the source is read again to name both records: one
    that cannot be read again leaves the refusal as found, not its own error."""
    connection = SqliteConnection(path=str(tmp_path / "people.db"))
    table = open_provider(connection, Endpoint(connection="db", table="people"), LAYOUT)
    await table.open(write=True)
    source = ReadOnce()
    job = Job(
        id="feed",
        source=Endpoint(connection="feed"),
        destination=Endpoint(connection="db", table="people"),
        objects=[MAPPING],
    )
    try:
        with pytest.raises(DuplicateKey, match="the key 'p1'"):
            await plan_job(job, Sides(cast(Provider, source), table))
    finally:
        await table.close()
    assert source.reads == 2
