"""The runner: the only service that touches data sources. Wiring only.

Two durable consumers: approvals (plan a run: run.py) and the work queue (apply a
batch: work.py). Every runner process pulls from the same two consumers, so runs and
batches are shared out among however many runners there are.
"""

from __future__ import annotations

from faststream.nats import NatsBroker

from schemas.events import Event, RunApproved
from schemas.work import WorkBatch, decode_batch
from services.common.bus import Bus
from services.common.consumers import subscribe_durable
from services.common.delivery import consume, deliberately
from services.common.host import Background
from services.common.jetstream import RUNNER, WORKER

from .run import Planner, fail_run
from .work import apply_batch


def register(broker: NatsBroker, bus: Bus) -> list[Background]:
    settings = bus.settings

    async def plan(event: Event, attempt: int) -> None:
        if isinstance(event, RunApproved):
            await Planner(event, attempt, bus, settings.runner_id).execute()

    async def plan_given_up(event: Event, error: BaseException) -> None:
        reason = f"planning gave up after {settings.max_deliver} attempts: {error}"
        await fail_run(bus, event.run_id, event.job_id, reason)

    async def apply(batch: WorkBatch, attempt: int) -> None:
        await apply_batch(batch, attempt, bus, settings.runner_id)

    async def apply_given_up(batch: WorkBatch, error: BaseException) -> None:
        reason = f"batch {batch.number} gave up after {settings.max_deliver} attempts: {error}"
        await fail_run(bus, batch.run_id, batch.job_id, reason)

    # One plan at a time: plans are large.
    subscribe_durable(
        bus,
        RUNNER,
        deliberately(settings, plan, plan_given_up),
        batch_size=1,
        title="runner: approved runs",
    )
    # A small fetch: the batches this runner applies at once, the rest left for others.
    subscribe_durable(
        bus,
        WORKER,
        consume(settings, decode_batch, apply, apply_given_up),
        batch_size=settings.runner_concurrency,
        title="runner: change batches",
    )
    return []
