"""Features that work alone, tried in combination: char(n) columns holding lists, ..."""

from __future__ import annotations

from pathlib import Path

from schemas.jobs import Endpoint
from schemas.values import Record
from services.providers.base import Layout
from tests.postgresql_server import Server
from tests.sql_servers import opened, read_all, sql_connection


async def test_a_postgresql_char_n_array_compares_as_it_reads_back(
    pg_database: Server, tmp_path: Path
) -> None:
    pg_database.psql(
        "CREATE TABLE coded (id integer PRIMARY KEY, codes char(4)[]);"
        "INSERT INTO coded VALUES (7, '{ab,cd}');"
    )
    layout = Layout(keys=("id",), fields=("id", "codes"), multi_valued={"codes": ";"})
    connection = sql_connection("postgresql", pg_database, tmp_path, "pg")
    table = await opened(connection, Endpoint(connection="pg", table="coded"), layout, write=True)
    try:
        [stored] = await read_all(table)
        record: Record = {"id": "7", "codes": ["ab", "cd"]}
        assert table.canonical(record) == stored
    finally:
        await table.close()
