"""Can a CSV connection be reached: its folder there, and writable where a job writes?"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from pathlib import Path

from core.errors import Unreachable
from schemas.connections import CsvConnection

from ..reach import refuse, writable
from ..writable import cannot_create_in


async def reach(connection: CsvConnection, writers: Sequence[str]) -> str:
    return await asyncio.to_thread(_check_folder, connection, writers)


def _check_folder(connection: CsvConnection, writers: Sequence[str]) -> str:
    folder = Path(connection.directory)
    if not folder.is_dir():
        raise Unreachable(f"{connection.id}: folder {folder} does not exist")
    files = sorted(p.name for p in folder.iterdir() if p.is_file())
    why = cannot_create_in(folder)
    refuse(connection, writers, why and f"cannot write in folder {folder} ({why})")
    return f"folder {folder} ({writable(why)}) holds {len(files)} files"
