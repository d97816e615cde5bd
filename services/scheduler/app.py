"""The scheduler: asks for a job's run when one of its schedules fires (firing.py).

It reads the jobs bucket every IDSYNC_SCHEDULER_TICK seconds. Fire times, and the run
ids made of them, are the same for every scheduler, and each fire is claimed in the
schedules bucket: two schedulers running at once ask for each run once.
"""

from __future__ import annotations

import os
import socket

from faststream.nats import NatsBroker

from schemas.ids import utcnow
from services.common.bus import Bus
from services.common.host import Background
from services.common.logging import get_logger
from services.common.loops import idle

from .firing import Firing

log = get_logger("idsync.scheduler")


def register(broker: NatsBroker, bus: Bus) -> list[Background]:
    async def loop() -> None:
        firing = Firing(bus, f"{socket.gethostname()}-{os.getpid()}")
        while True:
            try:
                await firing.tick(utcnow())
            except Exception as error:  # a passing NATS error must not stop the schedules
                log.warning("scheduler tick failed", error=str(error))
            await idle(bus.settings.scheduler_tick)

    return [loop]
