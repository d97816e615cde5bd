"""Runner liveness: each runner says every few seconds that it is alive and what it
works on, in the runners bucket (read by services/common/runners.py). A runner silent
past three heartbeats is reported; its unacknowledged work goes back to the queue when
its ack wait runs out, for another runner to take."""

from __future__ import annotations

import asyncio
import itertools
import os
import socket
from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING

import msgspec

from schemas.ids import utcnow
from services.common.jetstream import RUNNERS_BUCKET
from services.common.logging import get_logger
from services.common.loops import idle
from services.common.runners import RunnerInfo, runner_key

if TYPE_CHECKING:  # the command line lists these without loading FastStream
    from services.common.bus import Bus

log = get_logger("idsync.runner")
_encoder = msgspec.json.Encoder()


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
    key = runner_key(settings.runner_id)
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
            await idle(settings.heartbeat_interval)
    finally:  # a clean stop says goodbye
        try:
            await asyncio.shield(kv.delete(key))
        except Exception as error:
            log.warning("goodbye not recorded", error=str(error))
