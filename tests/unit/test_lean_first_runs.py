"""A first run from a source that cannot say its size (a directory, a service) into an
empty table is planned by the lean planner, its creates kept on disk as they are planned
(spill.py), as a first run from a large file is: however large the directory, the
runner's memory stays flat. A re-run, its table filled, is planned as before."""

from __future__ import annotations

import sqlite3
from pathlib import Path
from typing import cast

from schemas.connections import SqliteConnection
from schemas.jobs import Endpoint, FieldMap, ObjectMapping
from services.providers import open_provider
from services.providers.base import Layout, Provider
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
