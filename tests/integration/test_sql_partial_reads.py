"""A PostgreSQL or MariaDB read is every row or a failure: one whose connection the server
ends mid-cursor (killed by an administrator, a restart) fails, and a server's own caps
(MariaDB's sql_select_limit on the rows a SELECT returns, group_concat_max_len on a
GROUP_CONCAT's text) do not cut it short — the rows or values not read are never taken
for absent."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from core.errors import IdsyncError
from schemas.jobs import Endpoint
from services.providers.base import ChangeReader, Layout
from tests.mysql_server import Server as MysqlServer
from tests.postgresql_server import Server as PostgresqlServer
from tests.sql_servers import opened, read_all, sql_connection

ROWS = 300_000
"""More rows than the sockets' buffers hold: the server is still sending when it is cut."""
LAYOUT = Layout(keys=("id",), fields=("id", "dept"))


@pytest.mark.parametrize("what", ["query", "connection"])
async def test_a_mariadb_read_killed_mid_cursor_fails(
    my_database: MysqlServer, tmp_path: Path, what: str
) -> None:
    my_database.sql(
        "CREATE TABLE hr (id varchar(10) PRIMARY KEY, dept varchar(60));"
        "INSERT INTO hr SELECT concat('e', seq), 'Sales department of the company' "
        f"FROM seq_1_to_{ROWS};"
    )
    conn = sql_connection("mysql", my_database, tmp_path, "my")
    source = await opened(conn, Endpoint(connection="my", table="hr"), LAYOUT)
    read = 0
    try:
        with pytest.raises(IdsyncError) as raised:
            async for batch in source.read(100):
                if read == 0:
                    ids = my_database.sql(
                        "SELECT id FROM information_schema.processlist "
                        "WHERE db = database() AND id <> connection_id()"
                    ).split()
                    assert ids
                    for pid in ids:
                        my_database.sql(f"KILL {'QUERY ' if what == 'query' else ''}{pid}")
                read += len(batch)
    finally:
        await source.close()
    assert read < ROWS, raised.value


@pytest.mark.parametrize("incremental", [False, True], ids=["full", "changed-only"])
async def test_a_postgresql_read_whose_backend_is_terminated_mid_cursor_fails(
    pg_database: PostgresqlServer, tmp_path: Path, incremental: bool
) -> None:
    pg_database.psql(
        "CREATE TABLE hr (id text PRIMARY KEY, dept text);"
        "INSERT INTO hr SELECT 'e' || n, 'Sales department of the company' "
        f"FROM generate_series(1, {ROWS}) AS n;"
    )
    conn = sql_connection("postgresql", pg_database, tmp_path, "pg")
    source = await opened(conn, Endpoint(connection="pg", table="hr"), LAYOUT)
    assert isinstance(source, ChangeReader)
    batches = source.read_changed(100, "e0", "id") if incremental else source.read(100)
    read = 0
    try:
        with pytest.raises(IdsyncError):
            async for batch in batches:
                if read == 0:
                    await asyncio.to_thread(
                        pg_database.psql,
                        "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                        "WHERE query LIKE 'SELECT%hr%' AND pid <> pg_backend_pid()",
                    )
                read += len(batch)
    finally:
        await source.close()
    assert read < ROWS


async def test_a_mariadb_server_capping_its_selects_still_gives_every_row(
    my_database: MysqlServer, tmp_path: Path
) -> None:
    # sql_select_limit cuts a SELECT short without an error or a warning: left to the
    # server's setting, 15 of these rows would be taken for absent.
    my_database.sql(
        "CREATE TABLE hr (id varchar(10) PRIMARY KEY, dept varchar(60));"
        "INSERT INTO hr SELECT concat('e', seq), 'Sales' FROM seq_1_to_20;"
    )
    conn = sql_connection("mysql", my_database, tmp_path, "my")
    my_database.sql("SET GLOBAL sql_select_limit = 5")
    try:
        source = await opened(conn, Endpoint(connection="my", table="hr"), LAYOUT)
        try:
            assert len(await read_all(source)) == 20
        finally:
            await source.close()
    finally:
        my_database.sql("SET GLOBAL sql_select_limit = DEFAULT")


async def test_a_mariadb_server_capping_group_concat_still_gives_every_value(
    my_database: MysqlServer, tmp_path: Path
) -> None:
    # A job's SELECT joining a group's members with GROUP_CONCAT: a server's
    # group_concat_max_len (MySQL's own default is 1024 bytes) cuts the text with a
    # warning alone, and the members cut off would be removed from the group.
    my_database.sql(
        "CREATE TABLE member_of (grp varchar(10), member varchar(20));"
        "INSERT INTO member_of SELECT 'staff', concat('member-', seq) FROM seq_1_to_200;"
    )
    conn = sql_connection("mysql", my_database, tmp_path, "my")
    query = (
        "SELECT grp, GROUP_CONCAT(member ORDER BY member SEPARATOR '|') AS members "
        "FROM member_of GROUP BY grp"
    )
    layout = Layout(keys=("grp",), fields=("grp", "members"), multi_valued={"members": "|"})
    my_database.sql("SET GLOBAL group_concat_max_len = 1024")
    try:
        source = await opened(conn, Endpoint(connection="my", query=query), layout)
        try:
            (group,) = await read_all(source)
        finally:
            await source.close()
    finally:
        my_database.sql("SET GLOBAL group_concat_max_len = DEFAULT")
    assert isinstance(group["members"], list) and len(group["members"]) == 200
