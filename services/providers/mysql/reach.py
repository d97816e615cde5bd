"""Can a MySQL or MariaDB connection be reached — and written, where a job writes —
without reading or writing data? Connects, logs in, and asks the server who it is, whether
it is read-only and what the login may do in the database and, on each table a job
writes, what a run checks before planning (connection.py, grants.py: SELECT, INSERT,
UPDATE, DELETE on it, CREATE in the database where it does not exist yet)."""

from __future__ import annotations

from collections.abc import Sequence

from asyncmy.errors import MySQLError

from core.errors import BadInput, Unreachable, WriteFailed
from schemas.connections import MysqlConnection

from ..reach import checked, refuse, refuse_sides, sides
from .connection import MysqlTable, connect, fetch
from .grants import granted


async def reach(connection: MysqlConnection, writers: Sequence[str]) -> str:
    conn = await connect(connection)
    said: list[tuple[str, list[str]]] = []
    refused: list[tuple[str, list[str]]] = []
    try:
        [(version, who, readonly)] = await fetch(
            conn, "SELECT VERSION(), CURRENT_USER(), @@read_only"
        )
        rights = await granted(conn, connection.database, "")
        for (endpoint, layout), jobs in sides(writers) if not int(readonly) else ():
            table = MysqlTable(connection, endpoint, layout)
            try:
                await table.check_writes(conn)
            except (WriteFailed, BadInput) as e:
                refused.append((str(e), jobs))
                continue
            except MySQLError as e:
                refused.append((str(table.error(e, "open")), jobs))
                continue
            said.append((table.may_write(), jobs))
    except MySQLError as e:
        raise Unreachable(f"{connection.id}: {e.args[-1]}") from e
    finally:
        conn.close()
    why = "the server is read-only (read_only = ON)" if int(readonly) else None
    refuse(connection, writers, why)
    refuse_sides(connection, refused)
    product = "MariaDB" if "mariadb" in str(version).lower() else "MySQL"
    where = f"{connection.host}:{connection.port}/{connection.database}"
    if rights is None:
        tables = "its rights come through a role: not listed here"
    elif "CREATE" in rights:
        tables = f"may create tables in {connection.database}"
    else:
        tables = "may not create tables: a job's destination table must exist"
    state = checked(said, why, listed=rights is not None)
    return f"{product} {version} at {where} as {who} ({state}; {tables})"
