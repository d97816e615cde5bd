"""The runner: the only service that touches data sources. Wiring only.

Two durable consumers: approvals (plan a run: run.py) and the work queue (apply a
batch: work.py). Every runner process pulls from the same two consumers, so runs and
batches are shared out among however many runners there are.
"""

from __future__ import annotations

import msgspec
from faststream.nats import NatsBroker

from schemas.commands import CommandReply, deadletter_command_decoder
from schemas.event_ids import planning_dead_id, planning_failed_id
from schemas.events import Event, RunApproved, RunDeadLetter, RunDeliveryFailed
from schemas.work import WorkBatch, decode_batch
from services.common.bus import Bus
from services.common.consumers import subscribe_durable
from services.common.delivery import Failure, consume, deliberately
from services.common.ending import fail_run
from services.common.errors import IdsyncError
from services.common.host import Background
from services.common.jetstream import RUNNER, WORKER

from .deadletters import drop, retry
from .health import Work, heartbeat
from .run import Planner
from .work import advance, apply_batch, give_up, retrying


def register(broker: NatsBroker, bus: Bus) -> list[Background]:
    settings = bus.settings

    work = Work()

    async def plan(event: Event, attempt: int) -> None:
        if isinstance(event, RunApproved):
            with work.doing(f"planning {event.job_id} run {event.run_id}"):
                await Planner(event, attempt, bus, settings.runner_id).execute()

    async def plan_given_up(event: Event, error: BaseException) -> None:
        await bus.publish(
            RunDeadLetter(
                run_id=event.run_id,
                job_id=event.job_id,
                id=planning_dead_id(event.id),
                stage="plan",
                error=f"planning failed {settings.max_deliver} times: {error}",
            )
        )

    async def plan_retrying(event: Event, failure: Failure) -> None:
        await bus.publish(
            RunDeliveryFailed(
                run_id=event.run_id,
                job_id=event.job_id,
                id=planning_failed_id(event.id, failure.copy, failure.attempt),
                stage="plan",
                error=str(failure.error) or type(failure.error).__name__,
                attempt=failure.attempt,
                attempts=failure.attempts,
                retry_in=failure.retry_in,
            )
        )

    async def apply(batch: WorkBatch, attempt: int) -> None:
        with work.doing(f"{batch.job_id} run {batch.run_id} batch {batch.number}"):
            await apply_batch(batch, attempt, bus, settings.runner_id)

    async def apply_given_up(batch: WorkBatch, error: BaseException) -> None:
        await give_up(bus, batch, error)

    async def apply_retrying(batch: WorkBatch, failure: Failure) -> None:
        await retrying(bus, batch, failure)

    # Dead letter commands are answered by the workflow (it alone may publish an approval
    # again): handle_dead_letter below is what it calls.
    # One plan at a time: plans are large.
    subscribe_durable(
        bus,
        RUNNER,
        deliberately(bus, plan, plan_given_up, plan_retrying),
        batch_size=1,
        title="runner: approved runs",
    )
    # A small fetch: the batches this runner applies at once, the rest left for others.
    subscribe_durable(
        bus,
        WORKER,
        consume(bus, decode_batch, apply, apply_given_up, apply_retrying),
        batch_size=settings.runner_concurrency,
        title="runner: change batches",
    )
    return [lambda: heartbeat(bus, work)]


async def handle_dead_letter(bus: Bus, principal: str, body: bytes) -> CommandReply:
    try:
        command = deadletter_command_decoder.decode(body)
    except (msgspec.DecodeError, msgspec.ValidationError) as error:
        return CommandReply(ok=False, error=f"not a dead letter command: {error}")
    try:
        if command.action == "retry":
            letter = await retry(bus, command.seq)
        else:
            letter, batch = await drop(bus, command.seq, principal)
            if batch is not None:
                await advance(bus, batch)
            elif letter.run_id and letter.present:  # a run that could not be planned
                reason = f"dropped by {principal} after planning failed"
                await fail_run(bus, letter.run_id, letter.job_id, reason)
    except IdsyncError as error:
        return CommandReply(ok=False, error=str(error))
    return CommandReply(ok=True, run_id=letter.run_id or "-")
