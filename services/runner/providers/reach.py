"""`idsync connection test` and `idsync doctor`: can this connection be reached — and,
for a file destination, written where a job writes — without reading or writing data?"""

from __future__ import annotations

import asyncio
import importlib.util
from collections.abc import Sequence
from pathlib import Path

from core.errors import Unreachable, WriteFailed
from schemas.connections import (
    Connection,
    CsvConnection,
    LdapConnection,
    PluginConnection,
    SqliteConnection,
)
from schemas.jobs import Job

from .sqlite import unwritable
from .writable import cannot_create_in


async def check_reachable(connection: Connection, writers: Sequence[str] = ()) -> str:
    """A sentence saying what was found; Unreachable saying what is wrong. `writers`: the
    jobs writing to this connection — a file destination they could not write is
    WriteFailed; one nobody writes to is only said to be read-only."""
    match connection:
        case PluginConnection(factory=factory):
            module = factory.partition(":")[0]
            if importlib.util.find_spec(module) is None:
                raise Unreachable(f"{connection.id}: module {module} is not installed here")
            return f"plugin {factory} is installed here (install it on every runner too)"
        case CsvConnection():
            return await asyncio.to_thread(_check_folder, connection, writers)
        case SqliteConnection():
            return await asyncio.to_thread(_check_database, connection, writers)
        case LdapConnection():
            from .ldap_conn import connect

            session = await asyncio.to_thread(connect, connection)
            try:
                return f"{session.url} answered; bound as {connection.bind_dn or 'anonymous'}"
            finally:
                await asyncio.to_thread(session.close)


def _check_folder(connection: CsvConnection, writers: Sequence[str]) -> str:
    folder = Path(connection.directory)
    if not folder.is_dir():
        raise Unreachable(f"{connection.id}: folder {folder} does not exist")
    files = sorted(p.name for p in folder.iterdir() if p.is_file())
    why = cannot_create_in(folder)
    _refuse(connection, writers, why and f"cannot write in folder {folder} ({why})")
    return f"folder {folder} ({_writable(why)}) holds {len(files)} files"


def _check_database(connection: SqliteConnection, writers: Sequence[str]) -> str:
    database = Path(connection.path)
    if database.is_dir():
        raise Unreachable(f"{connection.id}: {database} is a folder, not a database")
    if not database.parent.is_dir():
        raise Unreachable(f"{connection.id}: folder {database.parent} does not exist")
    why = unwritable(database)
    _refuse(connection, writers, why)
    if database.exists():
        size = database.stat().st_size
        return f"database {database} ({size:,} bytes, {_writable(why)})"
    if why is not None:
        return f"database {database} does not exist, and could not be created: {why}"
    return f"database {database} does not exist yet; it is created on the first write"


def writers(jobs: Sequence[Job], connection_id: str) -> list[str]:
    """The jobs that write to the connection: its `check_reachable` checks writing too."""
    return [job.id for job in jobs if job.destination.connection == connection_id]


def _refuse(connection: Connection, writers: Sequence[str], why: str | None) -> None:
    """WriteFailed when a job writes to a connection that cannot be written."""
    if why is not None and writers:
        jobs = f"jobs {', '.join(writers)} write" if writers[1:] else f"job {writers[0]} writes"
        raise WriteFailed(f"{connection.id}: {why}; {jobs} here")


def _writable(why: str | None) -> str:
    return "writable" if why is None else f"read-only: {why}; enough for a source only"
