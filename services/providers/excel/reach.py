"""Can an Excel connection be reached: its folder there, and writable where a job writes?"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from pathlib import Path

from core.errors import Unreachable
from schemas.connections import ExcelConnection

from ..reach import refuse, writable
from ..writable import cannot_create_in
from .checks import READABLE


async def reach(connection: ExcelConnection, writers: Sequence[str]) -> str:
    return await asyncio.to_thread(_check_folder, connection, writers)


def _check_folder(connection: ExcelConnection, writers: Sequence[str]) -> str:
    folder = Path(connection.directory)
    if not folder.is_dir():
        raise Unreachable(f"{connection.id}: folder {folder} does not exist")
    books = sorted(p.name for p in folder.iterdir() if p.is_file() and p.suffix.lower() in READABLE)
    why = cannot_create_in(folder)
    refuse(connection, writers, why and f"cannot write in folder {folder} ({why})")
    return f"folder {folder} ({writable(why)}) holds {len(books)} workbooks"
