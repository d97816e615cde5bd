"""A change field kept as text in a PostgreSQL or MariaDB table is compared by its
kind, as a CSV's is (services/providers/changes.py), not as text on the server: text
would take "N/A" for later than every timestamp and "9" for later than "10", and such
a watermark would hide every later change."""

from __future__ import annotations

from pathlib import Path
from typing import Any, cast

import pytest

from schemas.jobs import Endpoint
from services.providers.base import Layout
from services.providers.sql.reading import SqlReading
from tests.mysql_server import Server as MysqlServer
from tests.postgresql_server import Server as PostgresqlServer
from tests.sql_servers import SqlProvider, sql_connection
from tests.sql_servers import opened as opened_side

LAYOUT = Layout(keys=("id",))

ROWS = [
    (1, "2026-11-01T10:00:00Z", "9"),
    (2, "N/A", "10"),
    (3, "2026-11-02T10:00:00Z", "8"),
    (4, None, None),
]


def create_sql(varchar: str) -> str:
    values = ", ".join(
        f"({i}, {'NULL' if at is None else repr(at)}, {'NULL' if n is None else repr(n)})"
        for i, at, n in ROWS
    )
    return (
        f"CREATE TABLE marks (id int PRIMARY KEY, at {varchar}, counter {varchar});"
        f"INSERT INTO marks VALUES {values};"
    )


@pytest.mark.parametrize("field", ["at", "counter"])
async def test_a_postgresql_text_change_column_is_compared_by_its_kind(
    pg_database: PostgresqlServer, tmp_path: Path, field: str
) -> None:
    pg_database.psql(create_sql("text"))
    await compare_by_kind("postgresql", pg_database, tmp_path, field)


@pytest.mark.parametrize("field", ["at", "counter"])
async def test_a_mysql_text_change_column_is_compared_by_its_kind(
    my_database: MysqlServer, tmp_path: Path, field: str
) -> None:
    my_database.sql(create_sql("varchar(40)"))
    await compare_by_kind("mysql", my_database, tmp_path, field)


async def compare_by_kind(
    kind: SqlProvider, server: PostgresqlServer | MysqlServer, folder: Path, field: str
) -> None:
    async def ids(since: str | None) -> tuple[list[str], str | None, list[str]]:
        connection = sql_connection(kind, server, folder, "db")
        provider = await opened_side(connection, Endpoint(connection="db", table="marks"), LAYOUT)
        reader = cast(SqlReading[Any, Any], provider)
        try:
            batches = reader.read_changed(10, since, field)
            read = [str(record["id"]) async for batch in batches for record in batch]
            return sorted(read), reader.watermark(), reader.change_warnings()
        finally:
            await provider.close()

    if field == "at":
        read, mark, warnings = await ids(None)
        assert read == ["1", "2", "3", "4"]
        assert mark == "2026-11-02T10:00:00Z", "'N/A' sorts after every timestamp as text"
        assert any("'N/A'" in warning for warning in warnings), warnings
        read, mark, _ = await ids("2026-11-01T12:00:00Z")
        assert read == ["2", "3", "4"], "the later one, the one that is no time, the empty one"
    else:
        read, mark, _ = await ids(None)
        assert mark == "10", "as text, '9' is after '10'"
        read, mark, _ = await ids("9")
        assert read == ["1", "2", "4"], "as text, '10' is before '9'"
        assert mark == "10"
