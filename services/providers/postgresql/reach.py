"""Can a PostgreSQL connection be reached — and written, where a job writes — without
reading or writing data? Connects, logs in, and asks the server what the login may do:
`has_table_privilege` on each job's table, `has_schema_privilege` to create one."""

from __future__ import annotations

from collections.abc import Sequence

import asyncpg

from core.errors import Unreachable
from schemas.connections import PostgresqlConnection

from ..reach import refuse, writable
from .connection import connect


async def reach(connection: PostgresqlConnection, writers: Sequence[str]) -> str:
    conn = await connect(connection)
    try:
        version = await conn.fetchval("SHOW server_version")
        who = await conn.fetchval("SELECT current_user")
        schema = await conn.fetchval("SELECT current_schema()")
        creates = schema is not None and await conn.fetchval(
            "SELECT has_schema_privilege(current_schema(), 'CREATE')"
        )
        readonly = await conn.fetchval("SHOW transaction_read_only") == "on"
    except asyncpg.PostgresError as e:
        raise Unreachable(f"{connection.id}: {e}") from e
    finally:
        await conn.close()
    # A job writing to a table that exists needs only its rights on that table: they are
    # checked per table when a job opens its destination (before planning), so a missing
    # CREATE right is said here, not refused.
    why = "the server is a read-only standby" if readonly else None
    refuse(connection, writers, why)
    where = f"{connection.host}:{connection.port}/{connection.database}"
    tables = (
        f"may create tables in schema {schema}"
        if creates
        else "may not create tables: a job's destination table must exist"
    )
    return f"PostgreSQL {version} at {where} as {who} ({writable(why)}; {tables})"
