"""Can a PostgreSQL connection be reached — and written, where a job writes — without
reading or writing data? Connects, logs in, and asks the server what the login may do:
on each table a job writes, what a run checks before planning (connection.py: SELECT,
INSERT, UPDATE, DELETE on it, CREATE in its schema where it does not exist yet),
`has_schema_privilege` to create one."""

from __future__ import annotations

from collections.abc import Sequence

import asyncpg

from core.errors import BadInput, Unreachable, WriteFailed
from schemas.connections import PostgresqlConnection

from ..reach import checked, refuse, refuse_sides, sides
from .connection import PostgresqlTable, connect


async def reach(connection: PostgresqlConnection, writers: Sequence[str]) -> str:
    conn = await connect(connection)
    said: list[tuple[str, list[str]]] = []
    refused: list[tuple[str, list[str]]] = []
    try:
        version = await conn.fetchval("SHOW server_version")
        who = await conn.fetchval("SELECT current_user")
        schema = await conn.fetchval("SELECT current_schema()")
        creates = schema is not None and await conn.fetchval(
            "SELECT has_schema_privilege(current_schema(), 'CREATE')"
        )
        readonly = await conn.fetchval("SHOW transaction_read_only") == "on"
        for (endpoint, layout), jobs in sides(writers) if not readonly else ():
            table = PostgresqlTable(connection, endpoint, layout)
            try:
                await table.check_writes(conn)
            except (WriteFailed, BadInput) as e:
                refused.append((str(e), jobs))
                continue
            except asyncpg.PostgresError as e:
                refused.append((str(table.error(e, "open")), jobs))
                continue
            said.append((table.may_write(), jobs))
    except asyncpg.PostgresError as e:
        raise Unreachable(f"{connection.id}: {e}") from e
    finally:
        await conn.close()
    why = "the server is a read-only standby" if readonly else None
    refuse(connection, writers, why)
    refuse_sides(connection, refused)
    where = f"{connection.host}:{connection.port}/{connection.database}"
    tables = (
        f"may create tables in schema {schema}"
        if creates
        else "may not create tables: a job's destination table must exist"
    )
    return f"PostgreSQL {version} at {where} as {who} ({checked(said, why)}; {tables})"
