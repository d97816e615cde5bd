"""Approving or denying a run that waits for approval of its plan.

A plan over a job's safety limits (or from an empty source) writes nothing: the run
waits in `run.awaiting-approval` with the plan's hash. An approval is bound to that
hash: the runner re-plans, and applies only if the data still gives that very plan
(otherwise it asks again). A denial ends the run.
"""

from __future__ import annotations

import msgspec

from schemas.commands import CommandReply, decide_command_decoder
from schemas.events import RunApproved, RunDenied
from services.common.bus import Bus
from services.common.ending import cancel_run
from services.common.logging import get_logger
from services.common.runs import RunState

WAITING = "run.awaiting-approval"

log = get_logger("idsync.workflow")


async def cancel(bus: Bus, principal: str, body: bytes) -> CommandReply:
    """Cancel a run that has not ended: acknowledged once no new batch of it can start."""
    try:
        command = decide_command_decoder.decode(body)
    except (msgspec.DecodeError, msgspec.ValidationError) as error:
        return CommandReply(ok=False, error=f"not a cancel command: {error}")
    state = await bus.runs.get(command.run_id)
    if state is None:
        return CommandReply(ok=False, error=f"no run {command.run_id!r} in progress")
    reason = command.reason or f"cancelled by {principal}"
    if not await cancel_run(bus, command.run_id, state.job_id, principal, reason):
        return CommandReply(ok=False, error=f"run {command.run_id} has ended already")
    log.info("run cancelled", run_id=command.run_id, by=principal)
    return CommandReply(ok=True, run_id=command.run_id)


async def decide_waiting_run(bus: Bus, principal: str, verb: str, body: bytes) -> CommandReply:
    try:
        command = decide_command_decoder.decode(body)
    except (msgspec.DecodeError, msgspec.ValidationError) as error:
        return CommandReply(ok=False, error=f"not an {verb} command: {error}")
    state = await bus.runs.get(command.run_id)
    if state is None:
        return CommandReply(ok=False, error=f"no run {command.run_id!r}")
    if state.state != WAITING:
        return CommandReply(
            ok=False,
            error=f"run {command.run_id} is not waiting for approval (it is {state.state})",
        )
    if verb == "approve":
        await bus.publish(
            RunApproved(
                run_id=command.run_id,
                job_id=state.job_id,
                id=f"{command.run_id}.approved.{state.plan_hash[:16]}",
                approved_by=principal,
                reason=command.reason or "plan approved",
                requested_by=state.requested_by,
                keys=state.keys,
                changed_only=state.changed_only,
                plan_hash=state.plan_hash,
            )
        )
        log.info("plan approved", run_id=command.run_id, by=principal)
        return CommandReply(ok=True, run_id=command.run_id)
    await bus.publish(
        RunDenied(
            run_id=command.run_id,
            job_id=state.job_id,
            id=f"{command.run_id}.denied",
            by=principal,
            reason=command.reason,
        )
    )

    def denied(current: RunState | None) -> RunState | None:
        if current is None or current.state != WAITING:
            return None
        current.state = "run.denied"
        return current

    await bus.runs.change(command.run_id, denied)
    log.info("plan denied", run_id=command.run_id, by=principal)
    return CommandReply(ok=True, run_id=command.run_id)
