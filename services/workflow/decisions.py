"""Approving, denying and cancelling runs: the answers to `idsync run approve|deny|cancel`.

A run waits for approval for one of two reasons. Its job's approval policy covers the
request (the workflow put it there, no plan yet): an approval releases it to the
runners. Or its plan is over the job's safety limits (or its source came back empty):
the approval is bound to the plan's hash — the runner re-plans, and applies only if
the data still gives that very plan (otherwise it asks again). Either way the run's
state changes by compare-and-set first, so of two answers at once exactly one wins.
A denial ends the run `run.denied` with its reason.
"""

from __future__ import annotations

import msgspec

from schemas.commands import CommandReply, decide_command_decoder
from schemas.event_ids import approved_id, denied_id
from schemas.events import RunApproved, RunDenied, Trigger
from services.common.approvals import WAITING
from services.common.bus import Bus
from services.common.failpoints import failpoint
from services.common.logging import get_logger
from services.common.runs import RunState, in_words
from services.common.users import load as load_users

from . import gate
from .approvals import cancel_waiting, forget

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
    if not await cancel_waiting(bus, command.run_id, state.job_id, principal, reason):
        return CommandReply(ok=False, error=f"run {command.run_id} has ended already")
    log.info("run cancelled", run_id=command.run_id, by=principal)
    return CommandReply(ok=True, run_id=command.run_id)


async def decide_waiting_run(bus: Bus, principal: str, verb: str, body: bytes) -> CommandReply:
    try:
        command = decide_command_decoder.decode(body)
    except (msgspec.DecodeError, msgspec.ValidationError) as error:
        return CommandReply(ok=False, error=f"not an {verb} command: {error}")
    run_id = command.run_id
    state = await bus.runs.get(run_id)
    if state is None:
        return CommandReply(ok=False, error=f"no run {run_id!r}: `idsync run approvals` lists them")
    if state.state != WAITING:
        return CommandReply(
            ok=False,
            error=f"run {run_id} is not waiting for approval ({in_words(state.state)})",
        )
    job = await bus.store.find_job(state.job_id)
    if job is None and verb == "approve":
        return CommandReply(
            ok=False,
            error=f"run {run_id} is of job {state.job_id}, which was deleted: nothing approved",
        )
    refused = gate.refusal(verb, principal, state.requested_by, job, load_users(bus.settings.home))
    if refused is not None:
        log.warning("decision refused", run_id=run_id, by=principal, why=refused)
        return CommandReply(ok=False, error=refused, denied=True)
    if job is not None and not job.enabled and verb == "approve":
        disabled = (
            f"job {job.id} is disabled: run {run_id} may not run (`idsync job enable {job.id}`, "
            "then approve it; or deny it)"
        )
        return CommandReply(ok=False, error=disabled)
    plan_hash = state.plan_hash or None
    if verb == "approve" and command.plan and not (plan_hash or "").startswith(command.plan):
        now = f"plan {plan_hash[:12]}" if plan_hash else "no plan (its request waits)"
        return CommandReply(
            ok=False,
            error=f"run {run_id} now waits with {now}, not plan {command.plan} (it re-planned "
            "since, the data having changed, or that plan is another run's): nothing approved; "
            "`idsync run approvals` shows what waits now",
        )
    if not await _leave_waiting(bus, run_id, plan_hash, verb, principal):
        return CommandReply(ok=False, error=f"run {run_id} was answered by someone else meanwhile")
    failpoint("answer-recorded")  # crash tests: answered, not said
    if verb == "approve":
        await bus.publish(
            RunApproved(
                run_id=run_id,
                job_id=state.job_id,
                id=approved_id(run_id, plan_hash),
                approved_by=principal,
                reason=command.reason or ("plan approved" if plan_hash else "request approved"),
                requested_by=state.requested_by,
                trigger=_trigger(state),
                keys=state.keys,
                changed_only=state.changed_only,
                plan_hash=plan_hash,
            )
        )
    else:
        await bus.publish(
            RunDenied(
                run_id=run_id,
                job_id=state.job_id,
                id=denied_id(run_id),
                by=principal,
                reason=command.reason,
            )
        )
    await forget(bus, run_id)
    done = "approved" if verb == "approve" else "denied"
    log.info(f"run {done}", run_id=run_id, by=principal, plan=bool(plan_hash))
    return CommandReply(ok=True, run_id=run_id, note=_what_was_done(verb, plan_hash))


def _what_was_done(verb: str, plan_hash: str | None) -> str:
    """The decision, as its reply tells the person who made it."""
    if verb != "approve":
        return "denied: it ends, and nothing of it is applied"
    if plan_hash is None:
        return "approved: its request runs now"
    return (
        f"approved: its plan {plan_hash[:12]}, over the limits, is applied as approved "
        "(should the data change meanwhile, the new plan waits for approval again)"
    )


async def _leave_waiting(
    bus: Bus, run_id: str, plan_hash: str | None, verb: str, principal: str
) -> bool:
    """Move the run out of its wait, if it still waits for this very decision.

    An approved threshold plan stays waiting, marked answered: the runner re-plans from
    it (and asks again if the data changed), and no other answer is taken meanwhile —
    but the same approval again, as after a crash before it was published. A released
    request becomes `run.approved`."""

    def answered(current: RunState | None) -> RunState | None:
        if current is None or current.state != WAITING or (current.plan_hash or None) != plan_hash:
            return None
        if current.answered_by and not (verb == "approve" and current.answered_by == principal):
            return None
        if verb == "deny":
            current.state = "run.denied"
        elif plan_hash is None:
            # Who approved it, kept: should the workflow stop before the approval is
            # published, the run's claim says it again (claims.py) — the run holds its job.
            current.state, current.answered_by = "run.approved", principal
        else:
            current.answered_by = principal
        return current

    return (await bus.runs.change(run_id, answered))[1] is not None


def _trigger(state: RunState) -> Trigger:
    if state.trigger in ("manual", "schedule", "external"):
        return state.trigger  # type: ignore[return-value]
    return "manual"
