"""The runner: the only service that touches data sources. Wiring only; see run.py."""

from __future__ import annotations

from faststream import AckPolicy
from faststream.nats import JStream, NatsBroker, PullSub

from schemas.events import Event, RunApproved
from services.common.bus import Bus
from services.common.delivery import deliberately
from services.common.host import Background
from services.common.jetstream import RUNNER
from services.common.logging import get_logger

from .run import Run

log = get_logger("idsync.runner")


def register(broker: NatsBroker, bus: Bus) -> list[Background]:
    settings = bus.settings

    async def handle(event: Event, attempt: int) -> None:
        if isinstance(event, RunApproved):
            await Run(event, attempt, bus, settings.runner_id).execute()

    async def give_up(event: Event, error: BaseException) -> None:
        if isinstance(event, RunApproved):
            reason = f"gave up after {settings.max_deliver} attempts: {error}"
            await Run(event, settings.max_deliver, bus, settings.runner_id).fail(reason)

    broker.subscriber(
        RUNNER.subject,
        stream=JStream(RUNNER.stream, declare=False),
        durable=RUNNER.name,
        pull_sub=PullSub(batch_size=1, timeout=5),
        ack_policy=AckPolicy.MANUAL,
        title="runner",
    )(deliberately(settings, handle, give_up))
    return []
