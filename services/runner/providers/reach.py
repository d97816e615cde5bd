"""`idsync connection test`: can this connection be reached, without reading or writing data?"""

from __future__ import annotations

import asyncio
import importlib.util
import os
from pathlib import Path

from schemas.connections import (
    Connection,
    CsvConnection,
    LdapConnection,
    PluginConnection,
    SqliteConnection,
)
from services.common.errors import Unreachable


async def check_reachable(connection: Connection) -> str:
    """A sentence saying what was found; Unreachable saying what is wrong."""
    match connection:
        case PluginConnection(factory=factory):
            module = factory.partition(":")[0]
            if importlib.util.find_spec(module) is None:
                raise Unreachable(f"{connection.id}: module {module} is not installed here")
            return f"plugin {factory} is installed here (install it on every runner too)"
        case CsvConnection():
            return await asyncio.to_thread(_check_folder, connection)
        case SqliteConnection():
            return await asyncio.to_thread(_check_database, connection)
        case LdapConnection():
            from .ldap_conn import connect

            session = await asyncio.to_thread(connect, connection)
            try:
                return f"{session.url} answered; bound as {connection.bind_dn or 'anonymous'}"
            finally:
                await asyncio.to_thread(session.close)


def _check_folder(connection: CsvConnection) -> str:
    folder = Path(connection.directory)
    if not folder.is_dir():
        raise Unreachable(f"{connection.id}: folder {folder} does not exist")
    files = sorted(p.name for p in folder.iterdir() if p.is_file())
    writable = "writable" if os.access(folder, os.W_OK) else "read-only"
    return f"folder {folder} ({writable}) holds {len(files)} files"


def _check_database(connection: SqliteConnection) -> str:
    database = Path(connection.path)
    if database.is_dir():
        raise Unreachable(f"{connection.id}: {database} is a folder, not a database")
    if database.exists():
        return f"database {database} ({database.stat().st_size:,} bytes)"
    if not database.parent.is_dir():
        raise Unreachable(f"{connection.id}: folder {database.parent} does not exist")
    return f"database {database} does not exist yet; it is created on the first write"
