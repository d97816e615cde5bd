"""The jobs and connections the portal shows, read once and then followed.

A bucket is read whole when first asked for (a KV watch: its current values, then every
change as the server stores it), and each request reads memory. The buckets stay the
one source: before answering, a request asks the server for the bucket's last revision
(one stream-info request) and waits until the watch has delivered it — a job applied,
changed or deleted a moment ago is on the next page, as if the bucket had been read.
"""

from __future__ import annotations

import asyncio
import contextlib
from typing import Generic, TypeVar

import msgspec
import nats.js.errors
from nats.js import JetStreamContext
from nats.js.kv import KV_DEL, KV_PURGE, KeyValue

from core.errors import Unreachable
from schemas.connections import Connection
from schemas.jobs import Job
from services.common.jetstream import CONNECTIONS_BUCKET, JOBS_BUCKET, not_set_up
from services.common.logging import get_logger

T = TypeVar("T")
log = get_logger("idsync.portal")
CATCH_UP = 5.0
"""Seconds a request waits for the watch to reach the bucket's last revision."""


class Followed(Generic[T]):
    """One bucket's values by key, kept by a watch (started at the first read)."""

    def __init__(self, js: JetStreamContext, bucket: str, kind: type[T]) -> None:
        self.js = js
        self.bucket = bucket
        self._decoder: msgspec.json.Decoder[T] = msgspec.json.Decoder(kind)
        self.items: dict[str, T] = {}
        self.revision = 0
        """The last revision (stream sequence) the watch delivered."""
        self._moved = asyncio.Condition()
        self._task: asyncio.Task[None] | None = None
        self._watcher: KeyValue.KeyWatcher | None = None
        self._starting = asyncio.Lock()
        self._start_revision = 0

    async def values(self) -> list[T]:
        """Every value, as the bucket holds it now."""
        await self._start()
        last = await self._last_revision()
        if not await self._reached(last):
            # A watch that stalled (a consumer lost with its server): read the bucket anew.
            log.warning("bucket watch behind: started again", bucket=self.bucket)
            await self.stop()
            await self._start()
            if not await self._reached(last):
                raise Unreachable(
                    f"bucket {self.bucket}: its changes did not arrive within {CATCH_UP:g} s"
                )
        return list(self.items.values())

    async def _last_revision(self) -> int:
        try:
            info = await self.js.stream_info(f"KV_{self.bucket}")
        except nats.js.errors.NotFoundError:
            raise not_set_up(f"bucket {self.bucket}") from None
        return int(info.state.last_seq)

    async def _reached(self, last: int) -> bool:
        async with self._moved:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(
                    self._moved.wait_for(lambda: self.revision >= last or self._task is None),
                    CATCH_UP,
                )
            return self.revision >= last

    async def _start(self) -> None:
        async with self._starting:
            if self._task is not None and not self._task.done():
                return
            try:
                kv = await self.js.key_value(self.bucket)
            except nats.js.errors.BucketNotFoundError:
                raise not_set_up(f"bucket {self.bucket}") from None
            self.items, self.revision = {}, 0
            # Once the watch has given the values there are (its first None), it has
            # given all up to this revision, even one whose message is gone since.
            self._start_revision = await self._last_revision()
            self._watcher = await kv.watchall()
            self._task = asyncio.create_task(self._follow(self._watcher))

    async def _follow(self, watcher: KeyValue.KeyWatcher) -> None:
        try:
            async for entry in watcher:
                if entry is None:  # the bucket was empty, or the first values are all in
                    async with self._moved:
                        self.revision = max(self.revision, self._start_revision)
                        self._moved.notify_all()
                    continue
                if entry.operation in (KV_DEL, KV_PURGE) or entry.value is None:
                    self.items.pop(entry.key, None)
                else:
                    try:
                        self.items[entry.key] = self._decoder.decode(entry.value)
                    except (msgspec.DecodeError, msgspec.ValidationError) as error:
                        self.items.pop(entry.key, None)
                        log.warning(
                            "value not read", bucket=self.bucket, key=entry.key, error=str(error)
                        )
                async with self._moved:
                    self.revision = max(self.revision, entry.revision or 0)
                    self._moved.notify_all()
        finally:
            self._task = None
            async with self._moved:
                self._moved.notify_all()

    async def stop(self) -> None:
        task, watcher = self._task, self._watcher
        self._task = None
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        if watcher is not None:
            with contextlib.suppress(Exception):
                await watcher.stop()  # type: ignore[no-untyped-call]


class Catalogue:
    """The jobs and connections, followed."""

    def __init__(self, js: JetStreamContext) -> None:
        self._jobs = Followed(js, JOBS_BUCKET, Job)
        self._connections: Followed[Connection] = Followed(
            js,
            CONNECTIONS_BUCKET,
            Connection,  # type: ignore[arg-type]
        )

    async def jobs(self) -> list[Job]:
        return sorted(await self._jobs.values(), key=lambda job: job.id)

    async def connections(self) -> list[Connection]:
        return sorted(await self._connections.values(), key=lambda c: c.id)

    async def stop(self) -> None:
        await self._jobs.stop()
        await self._connections.stop()
