"""A job never runs twice at once, whatever asked: every run request passes here.

Each `run.requested` — a person's command, another system's (merged in bursts), a
schedule's fire, a collection's step, the SCIM endpoint's push, a run scoped to keys —
takes its job's claim (core/claims.py, in the claims bucket by compare-and-set) before
it is let through to approval and planning. A request that finds another run of the job
going on waits in the claim, in turn: its state `run.queued`, said by `run.queued` in the
journal (`idsync run show|list`: "waiting: run R"); it can be cancelled as any run. When
the run holding the claim ends — finished, failed, cancelled, denied, expired — the first
run waiting takes the claim and is let through: it plans against what the runs before it
left. The claim names the runs waiting by their ids only (a request may carry tens of
thousands of keys, and a claim must stay one message however many wait): what a waiting
run was asked for is its state, recorded before it is said to wait, and let through as
that state tells it. A run in a claim without a state yet has its request unacknowledged
(a workflow stopped between the claim and the state): delivered again, it finds the claim
its own. A run that waits for approval (its request, or its plan over the limits) or whose
batch waits as a dead letter has not ended: it holds the claim until it is approved and
ends, or is denied, cancelled, expires (or its dead letter is dropped and it ends).

Runs' ends come from the journal (`on_run_event`, on the durable consumer that reads
every run event), so an end published while no workflow ran is seen when one starts
again. Whether the claim's run has ended is its own state in the runs bucket, recorded
before its end is published: a claim is no lease that a long run could outlive, and a
claim whose run's end was never seen (a workflow stopped between the two) is given up by
the next request of the job, or by `check_claims` every `IDSYNC_APPROVAL_CHECK` s. A
run whose turn was recorded (approved, or waiting for approval), or whose request a person
approved, but not said (a workflow stopped in between: its request, or the answer, was
acknowledged) is said again by the same check, or the next end of a run of its job.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import cast

from core.claims import QUEUED, JobClaim, release, take
from schemas.event_ids import approved_id, awaiting_id, queued_id, requested_id
from schemas.events import (
    Event,
    RunApproved,
    RunAwaitingApproval,
    RunQueued,
    RunRequested,
    Trigger,
    is_end,
)
from schemas.ids import utcnow
from schemas.jobs import Job
from schemas.subjects import events_of
from services.common.approvals import WAITING
from services.common.bus import Bus
from services.common.claims import Claims
from services.common.ending import fail_run
from services.common.failpoints import failpoint
from services.common.logging import get_logger
from services.common.reading import latest_event, run_events
from services.common.runs import RunState, in_words
from services.common.users import load as load_users

from . import gate, guard

log = get_logger("idsync.workflow")


async def gate_request(bus: Bus, request: RunRequested) -> None:
    """Let the request through if it takes its job's claim; else it waits in the claim."""
    state = await bus.runs.get(request.run_id)
    if state is not None and state.ended:
        return  # delivered again after its run ended: it claims nothing any more
    claim = await _take(bus, request)
    failpoint("after-claim")  # crash tests: claimed, neither let through nor said waiting
    if claim.holds(request.run_id):
        await let_through(bus, request, claim.since or request.at)
        return
    await _queue(bus, request, claim)
    await _resume(bus, request.job_id)  # its turn came meanwhile: the runs before it ended


async def on_run_event(bus: Bus, event: Event) -> None:
    """A run ended: its job's claim goes to the first run waiting, which is let through."""
    if not is_end(event):
        return
    claims = Claims(bus.js)
    _, after = await claims.change(event.job_id, lambda c: release(c, {event.run_id}, utcnow()))
    if after is not None:
        log.info("claim released", job_id=event.job_id, run_id=event.run_id, next=after.run_id)
    await _resume(bus, event.job_id)


async def check_claims(bus: Bus) -> None:
    """Give up every claim whose run has ended unseen, and let through the run that takes
    it (or one that took it and was not let through: a workflow stopped in between)."""
    claims = Claims(bus.js)
    for claim in await claims.all():
        if not claim.runs:
            continue  # nobody holds the job
        await _settle(bus, claim.job_id)
        await _resume(bus, claim.job_id)


async def _take(bus: Bus, request: RunRequested) -> JobClaim:
    await _settle(bus, request.job_id)
    before, after = await Claims(bus.js).change(
        request.job_id, lambda c: take(c, request, utcnow())
    )
    claim = after or before
    assert claim is not None  # take makes one when there is none
    return claim


async def _settle(bus: Bus, job_id: str) -> None:
    """Take out of the job's claim the runs that have ended (their ends not seen)."""
    claims = Claims(bus.js)
    claim = await claims.get(job_id)
    if claim is None:
        return
    ended: set[str] = set()
    for run_id in claim.runs:
        state = await bus.runs.get(run_id)
        if state is not None and state.ended:
            ended.add(run_id)
    if ended:
        _, after = await claims.change(job_id, lambda c: release(c, ended, utcnow()))
        if after is not None:
            log.warning("claim given up: its run had ended", job_id=job_id, runs=sorted(ended))


async def _resume(bus: Bus, job_id: str) -> None:
    """Let the claim's run through if it has not been (it took the claim from the queue):
    as its state, recorded when it was said to wait, keeps what it was asked for."""
    claim = await Claims(bus.js).get(job_id)
    if claim is None or not claim.run_id:
        return
    state = await bus.runs.get(claim.run_id)
    if state is None:
        # Claimed, its request not acknowledged yet (a workflow stopped in between): it is
        # delivered again, finds the claim its own and is let through then.
        return
    job = await bus.store.find_job(job_id)
    if state.state != QUEUED:
        if await _unsaid(bus, claim.run_id, state, job):
            # Its turn, or its approval, recorded and not said: a workflow stopped in
            # between (its request or the answer was acknowledged: nothing else says it).
            log.warning("run let through again: it was not said", run_id=claim.run_id)
            since = claim.since or state.updated_at
            request = waited_request(claim.run_id, state, since)
            if state.state == "run.approved" and state.answered_by:
                await bus.publish(approved_by(request, state.answered_by))
            else:
                await let_through(bus, request, since)
        return  # let through already
    if job is None or not job.enabled:
        # Its turn came after its job was deleted or disabled: it runs no more than a
        # request asked for then would (its end frees the job for the next one).
        gone = "deleted" if job is None else f"disabled (`idsync job enable {job_id}`)"
        why = f"job {job_id} was {gone} while the run waited for its turn"
        await fail_run(bus, claim.run_id, job_id, why)
        return
    log.info("run let through: its turn", job_id=job_id, run_id=claim.run_id)
    since = claim.since or state.updated_at
    await let_through(bus, waited_request(claim.run_id, state, since), since)


async def _unsaid(bus: Bus, run_id: str, state: RunState, job: Job | None) -> bool:
    """Whether the run's turn (`let_through`: approved by the workflow, or waiting for
    approval) or a person's approval of its request was recorded and not said in the
    journal. Its job runs one run at a time, so the latest such event of the job is this
    run's if it was said: one direct get, mostly."""
    if state.plan_hash or job is None:
        return False
    if state.state == "run.approved" and (
        state.answered_by or not gate.needs_approval(job, cast(Trigger, state.trigger))
    ):
        kind: type[Event] = RunApproved  # by the workflow, or by the person who answered
    elif state.state == WAITING:
        kind = RunAwaitingApproval
    else:
        return False
    said = await latest_event(bus.broker.connection, events_of(kind, job.id))
    if said is not None and said.run_id == run_id:
        return False
    # Another run's after it (an ended run's dead letter retried, say): its own events.
    return not any(
        isinstance(e, kind) for e in await run_events(bus.broker.connection, job.id, run_id)
    )


def waited_request(run_id: str, state: RunState, since: datetime) -> RunRequested:
    """A waiting run's request as its state keeps it (`_queue`): the claim names it only."""
    return RunRequested(
        run_id=run_id,
        job_id=state.job_id,
        id=requested_id(run_id),
        at=since,
        requested_by=state.requested_by,
        trigger=cast(Trigger, state.trigger),
        keys=state.keys,
        changed_only=state.changed_only,
    )


async def _queue(bus: Bus, request: RunRequested, claim: JobClaim) -> None:
    """Record that the request waits (its state, then the event), unless it moved on."""
    waiting = _state_of(request, QUEUED)
    await bus.runs.change(request.run_id, lambda current: waiting if current is None else None)
    holder = await bus.runs.get(claim.run_id)
    await bus.publish(
        RunQueued(
            run_id=request.run_id,
            job_id=request.job_id,
            id=queued_id(request.run_id),
            behind=claim.run_id,
            behind_state=in_words(holder.state) if holder is not None else "",
            requested_by=request.requested_by,
            trigger=request.trigger,
            keys=request.keys,
        )
    )
    log.info("run waits for its job's run", job_id=request.job_id, run_id=request.run_id)


async def let_through(bus: Bus, request: RunRequested, since: datetime) -> None:
    """Approve the request, or make it wait for the job's approvers (from `since`: when it
    took the claim); a request a role's policy refuses ends `run.failed`."""
    job = await bus.store.find_job(request.job_id)
    if job is not None and not job.enabled:
        # Disabled after the request was accepted (a system's request waits out its burst's
        # window; a schedule fired just before): no run at all, and the run says why. A
        # request delivered again after it was let through finds its run's state, and
        # leaves it.
        state = await bus.runs.get(request.run_id)
        if state is None or state.state in (QUEUED, "run.failed"):
            why = (
                f"job {job.id} is disabled: nothing was run "
                f"(`idsync job enable {job.id}` lets it run; then ask again)"
            )
            await fail_run(bus, request.run_id, job.id, why)
            log.warning("run of a disabled job not started", job_id=job.id, run_id=request.run_id)
            return
    if job is not None and (refused := await guard.run_refusal(bus, job)) is not None:
        await fail_run(bus, request.run_id, job.id, refused)
        log.warning("run refused by a role's policy", job_id=job.id, run_id=request.run_id)
        return
    if job is None or not gate.needs_approval(job, request.trigger):
        if await _record_approved(bus, request):
            failpoint("turn-recorded")  # crash tests: approved, not said
            await bus.publish(decide(request))
        return
    approvers = gate.approvers(job, load_users(bus.settings.home))
    expires_at = max(since, request.at) + timedelta(seconds=gate.expiry_seconds(job, 0))
    if not await _record_turn(bus, request, WAITING):
        return  # cancelled meanwhile: it waits for nobody
    others = gate.approvers_of(job, load_users(bus.settings.home), request.requested_by)
    who = ", ".join(others) or (
        f"an approver other than {request.requested_by}, and it lists none that is a known user"
    )
    await bus.publish(
        RunAwaitingApproval(
            run_id=request.run_id,
            job_id=job.id,
            id=awaiting_id(request.run_id),
            reason=f"{request.trigger} run asked for by {request.requested_by}; "
            f"job {job.id} needs the approval of {who}",
            requested_by=request.requested_by,
            trigger=request.trigger,
            keys=request.keys,
            approvers=approvers,
            expires_at=expires_at,
        )
    )
    log.info("run waits for approval", job_id=job.id, run_id=request.run_id, approvers=approvers)


async def _record_approved(bus: Bus, request: RunRequested) -> bool:
    """The run's state says it is approved before its approval is published, as a
    released wait's does: from then `idsync run cancel` finds it while it is planned (a
    request delivered again finds its run's state, whatever it is now, and keeps it).
    False when the run has ended meanwhile (cancelled while it waited its turn): no
    approval is said of it."""
    return await _record_turn(bus, request, "run.approved")


async def _record_turn(bus: Bus, request: RunRequested, state: str) -> bool:
    """The run's state set to `state` as its turn comes, where it has none yet or waits
    in its job's claim (a request delivered again keeps the state its run has moved on
    to); False when the run has ended meanwhile (cancelled while it waited its turn)."""
    turn = _state_of(request, state)

    def taken(current: RunState | None) -> RunState | None:
        return turn if current is None or current.state == QUEUED else None

    before, after = await bus.runs.change(request.run_id, taken)
    now = after or before
    return now is not None and not now.ended


def _state_of(request: RunRequested, state: str) -> RunState:
    """The run state `state` of the run `request` asks for (what it was asked for kept:
    its turn is let through from it)."""
    return RunState(
        job_id=request.job_id,
        state=state,
        requested_by=request.requested_by,
        keys=request.keys,
        trigger=request.trigger,
        changed_only=request.changed_only,
    )


def decide(request: RunRequested) -> RunApproved:
    """A request no approval policy covers is approved by the workflow itself."""
    return approved_by(request, "workflow")


def approved_by(request: RunRequested, who: str) -> RunApproved:
    """The request approved by `who` (the workflow: no approval required)."""
    return RunApproved(
        run_id=request.run_id,
        job_id=request.job_id,
        id=approved_id(request.run_id),
        approved_by=who,
        reason="no approval required" if who == "workflow" else "request approved",
        requested_by=request.requested_by,
        trigger=request.trigger,
        keys=request.keys,
        changed_only=request.changed_only,
    )
