"""Collections: the workflow runs their jobs one after the other, as events say.

A collection run is asked for by `collection.requested` (the `collection-run` command, or
the scheduler). The workflow records its steps in the bucket idsync_collection_runs
(core/collections.py says what each event does to them) and asks for the first job's
run — an ordinary `run.requested`, gated as any (a job that needs approval waits for it,
and the collection with it). When that run ends, the next job's run is asked for, or the
collection ends (`collection.ended`). Each change is a compare-and-set made before the
events it publishes, whose ids are fixed by the collection run and the step: a workflow
that stops half-way is delivered the event again and publishes the same events, stored
once. Only one job of a collection run is ever running.
"""

from __future__ import annotations

from typing import cast

import msgspec

from core.checks.collections import check_collection
from core.collections import CollectionRun, begin, cancel, step_ended
from core.errors import BadInput
from schemas.collections import Collection, CollectionStep
from schemas.commands import (
    CommandReply,
    collection_command_decoder,
    decide_command_decoder,
)
from schemas.event_ids import (
    collection_ended_id,
    collection_requested_id,
    requested_id,
    step_ended_id,
    step_started_id,
)
from schemas.events import (
    CollectionEnded,
    CollectionRequested,
    CollectionStepEnded,
    CollectionStepStarted,
    Event,
    RunCancelled,
    RunDenied,
    RunExpired,
    RunFailed,
    RunFinished,
    RunRequested,
    StepOutcome,
    Trigger,
)
from schemas.ids import new_collection_run_id, step_of, utcnow
from schemas.plan import RunStats
from services.common.bus import Bus
from services.common.collection_runs import CollectionRuns
from services.common.ending import fail_run
from services.common.logging import get_logger
from services.common.purging import forget_schedules

from .approvals import cancel_waiting

log = get_logger("idsync.workflow")
_decoder = msgspec.json.Decoder(Collection)


def _owned(principal: str, stored: Collection | None, verb: str) -> str | None:
    if stored is None or not stored.owners or principal in stored.owners:
        return None
    owners = ", ".join(stored.owners)
    return f"collection {stored.id} is owned by {owners}: only they may {verb} it"


async def apply_collection(bus: Bus, principal: str, body: bytes) -> CommandReply:
    try:
        collection = _decoder.decode(body)
    except (msgspec.DecodeError, msgspec.ValidationError) as error:
        return CommandReply(ok=False, error=f"not a collection: {error}")
    stored = await bus.store.find_collection(collection.id)
    if (problem := _owned(principal, stored, "change")) is not None:
        return CommandReply(ok=False, error=problem, denied=True)
    try:
        check_collection(collection, {job.id for job in await bus.store.jobs()})
    except BadInput as error:
        return CommandReply(ok=False, error=str(error))
    await bus.store.put_collection(collection)
    log.info("collection applied", collection=collection.id, by=principal)
    return CommandReply(ok=True, note="updated" if stored is not None else "applied")


async def delete_collection(bus: Bus, principal: str, body: bytes) -> CommandReply:
    try:
        command = collection_command_decoder.decode(body)
    except (msgspec.DecodeError, msgspec.ValidationError) as error:
        return CommandReply(ok=False, error=f"not a collection command: {error}")
    stored = await bus.store.find_collection(command.collection_id)
    if stored is None:
        return CommandReply(ok=False, error=f"no collection {command.collection_id!r}")
    if (problem := _owned(principal, stored, "delete")) is not None:
        return CommandReply(ok=False, error=problem, denied=True)
    await bus.store.delete_collection(stored.id)
    await forget_schedules(bus.broker.connection, stored.id, "collection")
    return CommandReply(ok=True, note="deleted")


async def run_collection(bus: Bus, principal: str, body: bytes) -> CommandReply:
    """Ask for a collection run: `collection.requested`, which starts it (below)."""
    try:
        command = collection_command_decoder.decode(body)
    except (msgspec.DecodeError, msgspec.ValidationError) as error:
        return CommandReply(ok=False, error=f"not a collection command: {error}")
    collection = await bus.store.find_collection(command.collection_id)
    if collection is None:
        return CommandReply(ok=False, error=f"no collection {command.collection_id!r}")
    if not collection.enabled:
        return CommandReply(ok=False, error=f"collection {collection.id} is disabled")
    run_id = new_collection_run_id()
    await bus.publish(requested(collection, run_id, principal, "manual"))
    log.info("collection run requested", collection=collection.id, run_id=run_id, by=principal)
    return CommandReply(ok=True, run_id=run_id)


def requested(
    collection: Collection, run_id: str, by: str, trigger: Trigger
) -> CollectionRequested:
    return CollectionRequested(
        run_id=run_id,
        job_id=collection.id,
        id=collection_requested_id(run_id),
        requested_by=by,
        trigger=trigger,
        steps=[StepOutcome(job=s.job, on_failure=s.on_failure) for s in collection.jobs],
    )


async def cancel_collection(bus: Bus, principal: str, body: bytes) -> CommandReply:
    try:
        command = decide_command_decoder.decode(body)
    except (msgspec.DecodeError, msgspec.ValidationError) as error:
        return CommandReply(ok=False, error=f"not a cancel command: {error}")
    runs = CollectionRuns(bus.js)
    before, after = await runs.change(
        command.run_id, lambda r: r and cancel(r, principal, utcnow())
    )
    if before is None:
        return CommandReply(ok=False, error=f"no collection run {command.run_id!r}")
    if after is None:
        return CommandReply(ok=False, error=f"collection run {command.run_id} has ended already")
    index = before.current
    if index is not None:
        step = before.steps[index]
        await cancel_waiting(
            bus, step.run_id, step.job, principal, f"its collection was cancelled by {principal}"
        )
    await publish_state(bus, after)
    log.info("collection run cancelled", run_id=command.run_id, by=principal)
    return CommandReply(ok=True, run_id=command.run_id)


async def on_requested(bus: Bus, event: CollectionRequested) -> None:
    """Record the collection run (once) and ask for its first job's run."""
    collection = await bus.store.find_collection(event.job_id)
    if collection is None:
        log.warning("collection gone before its run started", collection=event.job_id)
        collection = Collection(id=event.job_id, jobs=[])
    steps = Collection(id=collection.id, jobs=[_step(s) for s in event.steps] or collection.jobs)

    def started(current: CollectionRun | None) -> CollectionRun | None:
        if current is not None:
            return None  # delivered again: it is recorded already
        return begin(steps, event.run_id, event.requested_by, event.trigger, event.at)

    before, after = await CollectionRuns(bus.js).change(event.run_id, started)
    await publish_state(bus, after or before)


def _step(outcome: StepOutcome) -> CollectionStep:
    return CollectionStep(
        job=outcome.job, on_failure="continue" if outcome.on_failure == "continue" else "abort"
    )


def stats_of(event: Event) -> RunStats | None:
    """What an ended run did, as its end event says (None: a denial or an expiry, which
    wrote nothing)."""
    if isinstance(event, RunFinished | RunFailed | RunCancelled):
        return event.stats
    return None


def outcome_of(event: Event) -> str | None:
    """How a run ended, in the words of its story; None for an event that ends nothing."""
    match event:
        case RunFinished(with_errors=errors):
            return "finished with errors" if errors else "finished"
        case RunFailed():
            return "failed"
        case RunCancelled():
            return "cancelled"
        case RunDenied():
            return "denied"
        case RunExpired():
            return "expired"
    return None


async def on_run_event(bus: Bus, event: Event) -> None:
    """A run of a collection's step ended: the collection moves on."""
    found = step_of(event.run_id)
    outcome = outcome_of(event)
    if found is None or outcome is None:
        return
    run_id, number = found
    before, after = await CollectionRuns(bus.js).change(
        run_id, lambda r: r and step_ended(r, event.run_id, outcome, event.at, stats_of(event))
    )
    state = after or before
    if state is None:
        return
    step = state.steps[number - 1]
    if step.run_id == event.run_id and step.outcome not in ("pending", "running"):
        await bus.publish(
            CollectionStepEnded(
                run_id=run_id,
                job_id=state.collection_id,
                id=step_ended_id(run_id, number),
                step=number,
                steps=len(state.steps),
                job=step.job,
                step_run=event.run_id,
                outcome=step.outcome,
            )
        )
    await publish_state(bus, state)


async def publish_state(bus: Bus, run: CollectionRun | None) -> None:
    """Publish what the collection run's state says should have been (stored once): its
    end, or its current job's run asked for and its step started."""
    if run is None:
        return
    if run.ended:
        await bus.publish(
            CollectionEnded(
                run_id=run.run_id,
                job_id=run.collection_id,
                id=collection_ended_id(run.run_id),
                outcome=run.state,
                steps=run.steps,
                by=run.by,
            )
        )
        log.info("collection run ended", run_id=run.run_id, outcome=run.state)
        return
    index = run.current
    if index is None:
        return
    step = run.steps[index]
    job = await bus.store.find_job(step.job)
    await bus.publish(
        CollectionStepStarted(
            run_id=run.run_id,
            job_id=run.collection_id,
            id=step_started_id(run.run_id, index + 1),
            step=index + 1,
            steps=len(run.steps),
            job=step.job,
            step_run=step.run_id,
        )
    )
    if job is None or not job.enabled:
        why = "no longer exists" if job is None else "is disabled"
        await fail_run(bus, step.run_id, step.job, f"job {step.job} {why}")
        return
    await bus.publish(
        RunRequested(
            run_id=step.run_id,
            job_id=step.job,
            id=requested_id(step.run_id),
            requested_by=run.requested_by,
            trigger=cast("Trigger", run.trigger),
            collection=run.run_id,
        )
    )
