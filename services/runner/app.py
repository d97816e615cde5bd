"""The runner: the only service that touches data sources. Wiring only.

Two durable consumers: approvals (plan a run: run.py) and the work queue (apply a
batch: work.py). Every runner process pulls from the same two consumers, so runs and
batches are shared out among however many runners there are.
"""

from __future__ import annotations

from faststream import AckPolicy
from faststream.nats import JStream, NatsBroker, PullSub

from schemas.events import Event, RunApproved
from schemas.work import WorkBatch, decode_batch
from services.common.bus import Bus
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

    broker.subscriber(
        RUNNER.subject,
        stream=JStream(RUNNER.stream, declare=False),
        durable=RUNNER.name,
        pull_sub=PullSub(batch_size=1, timeout=5),  # one plan at a time: plans are large
        ack_policy=AckPolicy.MANUAL,
        title="runner: approved runs",
    )(deliberately(settings, plan, plan_given_up))
    broker.subscriber(
        WORKER.subject,
        stream=JStream(WORKER.stream, declare=False),
        durable=WORKER.name,
        # A small fetch: the batches applied at once by this runner, the rest left for others.
        pull_sub=PullSub(batch_size=settings.runner_concurrency, timeout=5),
        ack_policy=AckPolicy.MANUAL,
        title="runner: change batches",
    )(consume(settings, decode_batch, apply, apply_given_up))
    return []
