"""The scheduler: publishes a run request when a job's schedule is due."""

from __future__ import annotations

import asyncio

from faststream.nats import NatsBroker

from core.checks.intervals import parse_interval
from core.errors import BadInput
from schemas.event_ids import requested_id
from schemas.events import RunRequested
from schemas.ids import scheduled_run_id, utcnow
from services.common.bus import Bus
from services.common.host import Background
from services.common.logging import get_logger

from .schedule import Fired

log = get_logger("idsync.scheduler")


def register(broker: NatsBroker, bus: Bus) -> list[Background]:
    fired = Fired()

    async def tick() -> None:
        now = utcnow()
        jobs = await bus.store.jobs()
        fired.forget({job.id for job in jobs})
        for job in jobs:
            if not job.enabled or job.schedule is None or job.schedule.every is None:
                continue
            try:
                every = parse_interval(job.schedule.every)
            except BadInput as error:
                log.error("bad schedule", job_id=job.id, error=str(error))
                continue
            fire_at, missed = fired.due(job.id, now, every)
            if fire_at is None:
                continue
            if missed:
                log.warning("missed scheduled runs", job_id=job.id, missed=missed)
            run_id = scheduled_run_id(job.id, fire_at)
            # The id derives from the fire time: two schedulers publish one request.
            await bus.publish(
                RunRequested(
                    run_id=run_id,
                    job_id=job.id,
                    id=requested_id(run_id),
                    requested_by="scheduler",
                    trigger="schedule",
                )
            )
            log.info("scheduled run requested", job_id=job.id, run_id=run_id)

    async def loop() -> None:
        while True:
            try:
                await tick()
            except Exception as error:  # a passing NATS error must not stop the schedules
                log.warning("scheduler tick failed", error=str(error))
            await asyncio.sleep(bus.settings.scheduler_tick)

    return [loop]
