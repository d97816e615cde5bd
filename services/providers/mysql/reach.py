"""Can a MySQL or MariaDB connection be reached — and written, where a job writes —
without reading or writing data? Connects, logs in, and asks the server who it is, whether
it is read-only and what the login may do in the database (grants.py)."""

from __future__ import annotations

from collections.abc import Sequence

from asyncmy.errors import MySQLError

from core.errors import Unreachable
from schemas.connections import MysqlConnection

from ..reach import refuse, writable
from .connection import connect, fetch
from .grants import granted


async def reach(connection: MysqlConnection, writers: Sequence[str]) -> str:
    conn = await connect(connection)
    try:
        [(version, who, readonly)] = await fetch(
            conn, "SELECT VERSION(), CURRENT_USER(), @@read_only"
        )
        rights = await granted(conn, connection.database, "")
    except MySQLError as e:
        raise Unreachable(f"{connection.id}: {e.args[-1]}") from e
    finally:
        conn.close()
    # A job writing to a table that exists needs only its rights on that table: they are
    # checked per table when a job opens its destination (before planning).
    why = "the server is read-only (read_only = ON)" if int(readonly) else None
    refuse(connection, writers, why)
    product = "MariaDB" if "mariadb" in str(version).lower() else "MySQL"
    where = f"{connection.host}:{connection.port}/{connection.database}"
    if rights is None:
        tables = "its rights come through a role: not listed here"
    elif "CREATE" in rights:
        tables = f"may create tables in {connection.database}"
    else:
        tables = "may not create tables: a job's destination table must exist"
    return f"{product} {version} at {where} as {who} ({writable(why)}; {tables})"
