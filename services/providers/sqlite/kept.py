"""Connections to a database file kept between its writes: a run's batches each open the
table, write and close it, and a connection opened and closed for each costs a thread of
its own, the file opened and its schema read, and the write-ahead log checkpointed by the
last connection closing while the next batch waits to begin.

A connection given back outside a transaction is kept for the next writer of the same
file in this event loop, for IDLE seconds at most (then closed: the file is not held
open, and its log is checkpointed, once the writes stop). It is lent again only while
the path still names the file it was opened on (the same device and inode): a file
removed or replaced meanwhile gets a connection of its own. `close_kept` closes this
loop's (the runner stopping); a loop that ends closes those it left.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncGenerator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import aiosqlite

IDLE = 2.0
"""Seconds a connection is kept unused."""
MOST = 4
"""Connections kept per file, at most (batches written one after another by several
tasks of one runner)."""

FileId = tuple[int, int]
"""A file's device and inode."""


@dataclass(eq=False)
class _Kept:
    db: aiosqlite.Connection
    file: FileId
    timeout: float
    timer: asyncio.TimerHandle | None = None


@dataclass
class _Loop:
    kept: dict[Path, list[_Kept]]
    end: AsyncGenerator[None, None]


_loops: dict[asyncio.AbstractEventLoop, _Loop] = {}


def lend(path: Path, file: FileId, timeout: float) -> aiosqlite.Connection | None:
    """A kept connection to this file (made with this busy timeout), or None."""
    here = _loops.get(asyncio.get_running_loop())
    if here is None or not (kept := here.kept.get(path)):
        return None
    while kept:
        entry = kept.pop()
        if entry.timer is not None:
            entry.timer.cancel()
        if entry.file == file and entry.timeout == timeout:
            return entry.db
        _close(entry.db)  # another file by that name now
    return None


async def give_back(path: Path, file: FileId, timeout: float, db: aiosqlite.Connection) -> bool:
    """Keep `db` for the next writer of `path`; False when it is not kept (in a
    transaction, closed, or enough kept already): the caller closes it."""
    try:
        if db.in_transaction:
            return False
    except ValueError:  # closed
        return False
    here = await _here()
    kept = here.kept.setdefault(path, [])
    if len(kept) >= MOST:
        return False
    entry = _Kept(db, file, timeout)
    entry.timer = asyncio.get_running_loop().call_later(IDLE, _expire, here, path, entry)
    kept.append(entry)
    return True


async def close_kept() -> None:
    """Close the connections this event loop keeps."""
    here = _loops.pop(asyncio.get_running_loop(), None)
    if here is None:
        return
    for db in _take_all(here):
        with contextlib.suppress(Exception):
            await db.close()


def _expire(here: _Loop, path: Path, entry: _Kept) -> None:
    kept = here.kept.get(path, [])
    if entry in kept:
        kept.remove(entry)
        _close(entry.db)


def _close(db: aiosqlite.Connection) -> None:
    """Close `db` in its own thread, as aiosqlite's `stop` does but with no future: nothing
    waits for it, so nothing is handed back to an event loop that may have ended by then
    (a task awaiting the close would be cancelled with the loop's others)."""
    from aiosqlite.core import _STOP_RUNNING_SENTINEL  # what ends the thread

    db._running = False

    def close_and_stop() -> object:
        if db._connection is not None:
            db._connection.close()
            db._connection = None
        return _STOP_RUNNING_SENTINEL

    db._tx.put_nowait((None, close_and_stop))


def _take_all(here: _Loop) -> list[aiosqlite.Connection]:
    entries = [entry for kept in here.kept.values() for entry in kept]
    here.kept.clear()
    for entry in entries:
        if entry.timer is not None:
            entry.timer.cancel()
    return [entry.db for entry in entries]


async def _here() -> _Loop:
    loop = asyncio.get_running_loop()
    for other in [other for other in _loops if other.is_closed()]:
        del _loops[other]
    if (here := _loops.get(loop)) is None:
        here = _loops[loop] = _Loop({}, _loop_end(loop))
        await anext(here.end)
    return here


async def _loop_end(loop: asyncio.AbstractEventLoop) -> AsyncGenerator[None, None]:
    """Lives as long as the loop: asyncio ends it as the loop ends (asyncio.run, a test's
    loop), and the connections the loop kept are closed then."""
    try:
        yield
    finally:
        here = _loops.pop(loop, None)
        if here is not None:
            for db in _take_all(here):
                _close(db)
