"""Connection pools of the SQL providers (PostgreSQL, MySQL): one per event loop and
connection definition, opened on first use and shared by every batch written and every
read made there, so a batch no longer logs in anew.

A pool is found by the connection's id and checked against a fingerprint of what it was
made with — the definition as stored and the password its reference gives now — so a
definition changed by `connection apply` (another host, a rotated secret) gets a new
pool on its next use, and the old one is closed once its connections come back. Pools
belong to the event loop that made them, and a loop that ends closes those it left open.
Batches and looks at the catalogue wait for a connection when all are in use; a read
takes one only while another stays for them (`lend_to_read`). `close_pools` closes this
loop's pools; the runner's stop calls it once its batches are done. The drivers are not
imported here: each provider's connection.py makes and closes its pools (`Pools`).
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
from collections.abc import AsyncGenerator, Awaitable, Callable
from dataclasses import dataclass
from typing import Any, Generic, TypeVar, cast

import msgspec

from schemas.connections import MysqlConnection, PostgresqlConnection

from .table import Lent

P = TypeVar("P")
Definition = PostgresqlConnection | MysqlConnection


def fingerprint(connection: Definition, password: str | None) -> bytes:
    """What a pool is made with: the definition and the password it resolves to now."""
    digest = hashlib.sha256(msgspec.json.encode(connection))
    digest.update(b"\0" if password is None else b"\1" + password.encode())
    return digest.digest()


@dataclass
class _Held(Generic[P]):
    key: bytes
    made: asyncio.Future[P]
    """The pool, once made (several batches asking at once wait for the one pool)."""


class Pools(Generic[P]):
    """One provider's pools, per event loop and connection id."""

    def __init__(
        self,
        make: Callable[[Definition, str | None], Awaitable[P]],
        close: Callable[[P], Awaitable[None]],
        terminate: Callable[[P], Awaitable[None]],
    ) -> None:
        self._make = make
        self._close = close
        self._terminate = terminate
        self._loops: dict[asyncio.AbstractEventLoop, dict[str, _Held[P]]] = {}
        self._ends: dict[asyncio.AbstractEventLoop, AsyncGenerator[None, None]] = {}
        self._closing: set[asyncio.Task[None]] = set()
        self._reads: dict[int, int] = {}  # id(pool) → its connections lent to reads
        _ALL.append(self)

    async def get(self, connection: Definition, password: str | None) -> P:
        """The pool of this definition, made on first use; a pool made with another
        definition of the same connection, or another password, is closed."""
        held = await self._held()
        key = fingerprint(connection, password)
        entry = held.get(connection.id)
        if entry is None or entry.key != key:
            if entry is not None:
                self._retire(entry)
            made = asyncio.ensure_future(self._make(connection, password))
            entry = held[connection.id] = _Held(key, made)
        try:
            return await asyncio.shield(entry.made)
        except Exception:
            if held.get(connection.id) is entry:
                del held[connection.id]  # the next batch tries again
            raise

    async def lend(
        self,
        connection: Definition,
        password: str | None,
        read: bool,
        own: Callable[[], Awaitable[Any]],
        failed: Callable[[BaseException], Exception | None],
    ) -> Lent:
        """One of the pool's connections (its pool made on first use, a connection made
        when none is free and the pool holds fewer than `pool_size`); waits for one while
        all are in use. A `read` the pool may not lend one to (`lend_to_read`) gets one of
        its own, made by `own`. `failed` words a driver's error (None: raised as it is)."""
        pool = await self.get(connection, password)
        if read and not self.lend_to_read(pool, connection.pool_size):
            return Lent(None, await own(), read)
        try:
            conn = await cast(Any, pool).acquire()
        except Exception as e:
            if read:
                self.read_done(pool)
            if (error := failed(e)) is not None:
                raise error from e
            raise
        return Lent(pool, conn, read)

    def lend_to_read(self, pool: P, size: int) -> bool:
        """Whether a read may take one of the pool's `size` connections: never the last
        one. A read holds its connection for as long as its reader takes, and a planner
        reads both sides at once and looks at the catalogue meanwhile: were reads to take
        every connection, a read waiting for one would wait for itself. A read refused
        here makes a connection of its own."""
        lent = self._reads.get(id(pool), 0)
        if lent + 1 >= size:
            return False
        self._reads[id(pool)] = lent + 1
        return True

    def read_done(self, pool: P) -> None:
        """A read's connection is back."""
        left = self._reads.pop(id(pool), 1) - 1
        if left:
            self._reads[id(pool)] = left

    def count(self) -> int:
        """Pools open on this loop."""
        return len(self._loops.get(asyncio.get_running_loop(), {}))

    async def close_all(self) -> None:
        """Close this loop's pools (each waits for the connections in use to come back)."""
        held = self._loops.pop(asyncio.get_running_loop(), {})
        entries = list(held.values())
        held.clear()  # none left for the loop's end to close
        for entry in entries:
            self._retire(entry)
        if self._closing:
            await asyncio.gather(*self._closing, return_exceptions=True)

    async def _held(self) -> dict[str, _Held[P]]:
        loop = asyncio.get_running_loop()
        for other in [other for other in self._loops if other.is_closed()]:
            del self._loops[other]
            self._ends.pop(other, None)
        if (held := self._loops.get(loop)) is None:
            held = self._loops[loop] = {}
            end = self._ends[loop] = self._loop_end(loop, held)
            await anext(end)
        return held

    async def _loop_end(
        self, loop: asyncio.AbstractEventLoop, held: dict[str, _Held[P]]
    ) -> AsyncGenerator[None, None]:
        """Lives as long as the loop: asyncio ends it as the loop ends (asyncio.run, a
        test's loop) by closing its async generators, and the pools the loop left open
        are closed then, their connections at once: nothing is left for a loop that
        will never run again, nor kept alive past it."""
        try:
            yield
        finally:
            if self._loops.get(loop) is held:
                del self._loops[loop]
            entries = list(held.values())
            held.clear()
            for entry in entries:
                if entry.made.done() and not entry.made.cancelled() and not entry.made.exception():
                    with contextlib.suppress(Exception):
                        await self._terminate(entry.made.result())

    def _retire(self, entry: _Held[P]) -> None:
        """Close a pool no batch will ask for again, in the background."""

        async def close() -> None:
            with contextlib.suppress(Exception):
                await self._close(await entry.made)

        task = asyncio.get_running_loop().create_task(close())
        self._closing.add(task)
        task.add_done_callback(self._closing.discard)


_ALL: list[Pools[Any]] = []


async def close_pools() -> None:
    """Close every SQL pool this event loop opened (the services stopping)."""
    for pools in list(_ALL):
        await pools.close_all()
