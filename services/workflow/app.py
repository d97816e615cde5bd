"""The workflow service: answers run commands and gates every run request.

Here every request is approved at once; approval policies and approvers come later
and plug in at `decide`. Plans over a job's safety limits wait for `idsync run
approve|deny` (decisions.py).
"""

from __future__ import annotations

import msgspec
from faststream.nats import NatsBroker, NatsMessage

from schemas.commands import CommandReply, encode, run_command_decoder
from schemas.events import Event, RunApproved, RunRequested
from schemas.ids import is_slug, new_run_id
from schemas.subjects import command_subject
from services.common.bus import Bus
from services.common.consumers import subscribe_durable
from services.common.delivery import deliberately
from services.common.errors import StoreFull
from services.common.host import Background
from services.common.jetstream import WORKFLOW
from services.common.logging import get_logger

from .decisions import cancel, decide_waiting_run

log = get_logger("idsync.workflow")


def register(broker: NatsBroker, bus: Bus) -> list[Background]:
    @broker.subscriber(command_subject("*", "run"), title="run commands")
    async def on_run_command(msg: NatsMessage) -> bytes:
        principal = msg.raw_message.subject.split(".")[2]
        try:
            reply = await accept_run_command(bus, principal, msg.body)
        except StoreFull as error:
            reply = CommandReply(ok=False, error=str(error), retry=True)
        return encode(reply)

    @broker.subscriber(command_subject("*", "approve"), title="approve commands")
    async def on_approve(msg: NatsMessage) -> bytes:
        principal = msg.raw_message.subject.split(".")[2]
        return encode(await decide_waiting_run(bus, principal, "approve", msg.body))

    @broker.subscriber(command_subject("*", "deny"), title="deny commands")
    async def on_deny(msg: NatsMessage) -> bytes:
        principal = msg.raw_message.subject.split(".")[2]
        return encode(await decide_waiting_run(bus, principal, "deny", msg.body))

    @broker.subscriber(command_subject("*", "cancel"), title="cancel commands")
    async def on_cancel(msg: NatsMessage) -> bytes:
        return encode(await cancel(bus, msg.raw_message.subject.split(".")[2], msg.body))

    async def on_requested(event: Event, attempt: int) -> None:
        if isinstance(event, RunRequested):
            await bus.publish(decide(event))

    subscribe_durable(
        bus, WORKFLOW, deliberately(bus.settings, on_requested), batch_size=16, title="run requests"
    )
    return []


async def accept_run_command(bus: Bus, principal: str, body: bytes) -> CommandReply:
    """Check the command, give the run its id and publish the request."""
    try:
        command = run_command_decoder.decode(body)
    except (msgspec.DecodeError, msgspec.ValidationError) as error:
        return CommandReply(ok=False, error=f"not a run command: {error}")
    if not is_slug(principal):
        return CommandReply(ok=False, error=f"{principal!r} is not a valid principal")
    job = await bus.store.find_job(command.job_id)
    if job is None:
        return CommandReply(ok=False, error=f"no job {command.job_id!r}")
    if not job.enabled:
        return CommandReply(ok=False, error=f"job {command.job_id!r} is disabled")
    run_id = new_run_id()
    await bus.publish(
        RunRequested(
            run_id=run_id,
            job_id=job.id,
            id=f"{run_id}.requested",
            requested_by=principal,
            keys=command.keys,
            changed_only=command.changed_only,
        )
    )
    log.info("run requested", job_id=job.id, run_id=run_id, by=principal)
    return CommandReply(ok=True, run_id=run_id)


def decide(request: RunRequested) -> RunApproved:
    """No approval policy yet: every request is approved by the workflow itself."""
    return RunApproved(
        run_id=request.run_id,
        job_id=request.job_id,
        id=f"{request.run_id}.approved",
        approved_by="workflow",
        reason="no approval required",
        requested_by=request.requested_by,
        trigger=request.trigger,
        keys=request.keys,
        changed_only=request.changed_only,
    )
