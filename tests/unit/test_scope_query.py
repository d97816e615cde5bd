"""A job's scope can be narrowed by the provider's own query: a SQL condition for SQLite."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from core.checks.job import check_job
from core.errors import BadInput
from schemas.connections import Connection, CsvConnection, SqliteConnection
from schemas.jobs import Endpoint, Job, ObjectMapping
from services.providers import FACTS
from services.providers.base import Layout
from services.providers.sqlite.provider import SqliteProvider


async def test_a_sqlite_query_limits_what_is_read(tmp_path: Path) -> None:
    db = tmp_path / "hr.db"
    with sqlite3.connect(db) as conn:
        conn.execute("CREATE TABLE people (id TEXT, department TEXT)")
        conn.executemany(
            "INSERT INTO people VALUES (?, ?)", [("1", "Sales"), ("2", "Legal"), ("3", "Sales")]
        )
    endpoint = Endpoint(connection="hr", table="people", query="department = 'Sales'")
    provider = SqliteProvider(SqliteConnection(id="hr", path=str(db)), endpoint, Layout())
    await provider.open(write=False)
    read = [record async for batch in provider.read(10) for record in batch]
    await provider.close()
    assert sorted((r["id"] for r in read), key=str) == ["1", "3"]


def job(source: Endpoint) -> Job:
    return Job(
        id="j",
        source=source,
        destination=Endpoint(connection="db", table="t"),
        objects=[ObjectMapping(keys=["id"])],
    )


CONNECTIONS: dict[str, Connection] = {
    "files": CsvConnection(id="files", directory="/tmp"),
    "db": SqliteConnection(id="db", path="/tmp/x.db"),
}


@pytest.mark.parametrize(
    ("source", "expected"),
    [
        (Endpoint(connection="files", file="a.csv", query="x = 1"), "a CSV file has no query"),
        (Endpoint(connection="db", table="t", query="1; DROP TABLE t"), "without `;`"),
    ],
    ids=["csv-has-no-query", "one-sql-condition"],
)
def test_a_query_the_provider_cannot_take_is_refused(source: Endpoint, expected: str) -> None:
    with pytest.raises(BadInput, match=expected):
        check_job(job(source), CONNECTIONS, FACTS)
