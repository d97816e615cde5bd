"""Runner liveness: each runner says every few seconds that it is alive and what it
works on, in the runners bucket; `idsync runner list` and `idsync doctor` read it. A
runner silent past three heartbeats is reported; its unacknowledged work goes back to
the queue when its ack wait runs out, for another runner to take."""

from __future__ import annotations

import asyncio
import itertools
import os
import socket
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime
from typing import TYPE_CHECKING

import msgspec
import nats.js.errors
from nats.js import JetStreamContext

from schemas.ids import utcnow
from services.common.jetstream import RUNNERS_BUCKET
from services.common.logging import get_logger
from services.common.reading import bucket_keys

if TYPE_CHECKING:  # the command line lists these without loading FastStream
    from services.common.bus import Bus

SILENT_AFTER = 3  # heartbeats
log = get_logger("idsync.runner")
_encoder = msgspec.json.Encoder()


class RunnerInfo(msgspec.Struct, kw_only=True):
    runner_id: str
    host: str
    pid: int
    started_at: datetime
    heartbeat_at: datetime
    interval: float
    working: list[str] = msgspec.field(default_factory=list)
    site: str = ""
    """The site it works in (IDSYNC_SITE); empty: central."""

    def silent_for(self, now: datetime) -> float:
        """Seconds since the last heartbeat, beyond what is expected (0 when alive)."""
        late = (now - self.heartbeat_at).total_seconds()
        return late if late > SILENT_AFTER * self.interval else 0.0


class Work:
    """What this runner process is doing now."""

    def __init__(self) -> None:
        self.items: dict[int, str] = {}
        self._tokens = itertools.count()

    @contextmanager
    def doing(self, what: str) -> Iterator[None]:
        # A number of its own for each piece of work: two at once (a batch applied while
        # its run's planning hands out the next ones) never share an entry.
        token = next(self._tokens)
        self.items[token] = what
        try:
            yield
        finally:
            self.items.pop(token, None)


async def heartbeat(bus: Bus, work: Work) -> None:
    settings = bus.settings
    kv = await bus.js.key_value(RUNNERS_BUCKET)
    key = _key(settings.runner_id)
    info = RunnerInfo(
        runner_id=settings.runner_id,
        host=socket.gethostname(),
        pid=os.getpid(),
        started_at=utcnow(),
        heartbeat_at=utcnow(),
        interval=settings.heartbeat_interval,
        site=settings.site,
    )
    try:
        while True:
            info.heartbeat_at = utcnow()
            info.working = sorted(work.items.values())
            try:
                await kv.put(key, _encoder.encode(info))
            except Exception as error:  # the server is away: try again at the next beat
                log.warning("heartbeat not recorded", error=str(error))
            await asyncio.sleep(settings.heartbeat_interval)
    finally:  # a clean stop says goodbye
        try:
            await asyncio.shield(kv.delete(key))
        except Exception as error:
            log.warning("goodbye not recorded", error=str(error))


async def runners(js: JetStreamContext) -> list[RunnerInfo]:
    try:
        kv = await js.key_value(RUNNERS_BUCKET)
    except nats.js.errors.BucketNotFoundError:
        return []
    keys = await bucket_keys(js, RUNNERS_BUCKET)  # kv.keys() would need a consumer
    found = []
    for key in sorted(keys):
        try:
            entry = await kv.get(key)
        except (nats.js.errors.KeyNotFoundError, nats.js.errors.KeyDeletedError):
            continue  # a runner that said goodbye
        if entry.value:
            found.append(msgspec.json.decode(entry.value, type=RunnerInfo))
    return found


def _key(runner_id: str) -> str:
    """KV keys allow [-/_=.a-zA-Z0-9]: anything else in a runner id becomes '_'."""
    return "".join(c if c.isalnum() or c in "-_=." else "_" for c in runner_id)
