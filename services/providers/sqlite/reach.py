"""Can a SQLite connection be reached — and written, where a job writes — without
reading or writing data? `unwritable` also answers the provider, before it writes."""

from __future__ import annotations

import asyncio
import os
from collections.abc import Sequence
from pathlib import Path

from core.errors import Unreachable
from schemas.connections import SqliteConnection

from ..reach import refuse, writable
from ..writable import cannot_create_in


def unwritable(path: Path) -> str | None:
    """Why a job could not write the database at `path` — the file, or the folder where
    SQLite keeps its journal next to it; None when it can."""
    folder = path.parent
    if path.is_dir():
        return f"{path} is a folder, not a file"
    if not folder.is_dir():
        return f"folder {folder} does not exist; create it or fix `path`"
    if path.exists() and not os.access(path, os.W_OK):
        return f"{path} is read-only; check its permissions"
    if (why := cannot_create_in(folder)) is not None:
        return (
            f"cannot write in folder {folder} ({why}): SQLite writes its journal next to "
            f"{path.name}, so the folder must be writable too"
        )
    return None


async def reach(connection: SqliteConnection, writers: Sequence[str]) -> str:
    return await asyncio.to_thread(_check_database, connection, writers)


def _check_database(connection: SqliteConnection, writers: Sequence[str]) -> str:
    database = Path(connection.path)
    if database.is_dir():
        raise Unreachable(f"{connection.id}: {database} is a folder, not a database")
    if not database.parent.is_dir():
        raise Unreachable(f"{connection.id}: folder {database.parent} does not exist")
    why = unwritable(database)
    refuse(connection, writers, why)
    if database.exists():
        size = database.stat().st_size
        return f"database {database} ({size:,} bytes, {writable(why)})"
    if why is not None:
        return f"database {database} does not exist, and could not be created: {why}"
    return f"database {database} does not exist yet; it is created on the first write"
