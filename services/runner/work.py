"""Applying one batch from the work queue — on whichever runner pulled it.

Effectively once: the provider applies idempotently and fenced (create-if-absent, set
to a value, write only what differs), and the run's state records each batch number
once, by compare-and-set, with its statistics. So a batch delivered again — its runner
died after writing, before acknowledging — changes nothing twice and counts once. The
statistics count records, each once (outcomes.py).
The runner whose update completes a phase puts the next phase on the work queue; the
one whose update completes the last phase publishes `run.finished`, once destinations
that stage a run's batches (a workbook: providers/base.Staging) have written them; a run
that ends otherwise has them written too (`finish_writes`).
"""

from __future__ import annotations

import asyncio
from datetime import datetime

import structlog

from core.checks.intervals import parse_interval
from core.engine.context import MappingContext
from core.engine.mapping import compile_mapping
from core.engine.passwords import PasswordSpec
from core.errors import PERMANENT, NotFound
from schemas.event_ids import (
    batch_applied_id,
    batch_dead_id,
    batch_failed_id,
    finished_id,
    passwords_sealed_id,
)
from schemas.events import (
    RunBatchApplied,
    RunDeadLetter,
    RunDeliveryFailed,
    RunFinished,
    RunPasswordsSealed,
)
from schemas.jobs import Job
from schemas.plan import RunStats
from schemas.work import Changes, Creates, WorkBatch, listed
from services.common import metrics, tracing
from services.common.bus import Bus
from services.common.delivery import Failure
from services.common.ending import cancel_run, fail_run
from services.common.failpoints import failpoint
from services.common.runs import RunState, StateChange
from services.common.sealing import notifier_public_key
from services.common.stored_plans import forget_plan, load_plan
from services.common.watermarks import Memory
from services.providers.base import Outcome

from .absences import advance_watermark, remember
from .hooks import hooks_of, shutdown
from .outcomes import Ledger, count_batch, record_errors
from .passwords import passwords_of, sealed_passwords, with_passwords
from .planning.sides import apply_by_type, finish_by_type
from .plans import publish_phase
from .reasons import publish_rest
from .run import seconds_since

log = structlog.get_logger("idsync.runner")


async def apply_batch(batch: WorkBatch, attempt: int, bus: Bus, runner_id: str) -> None:
    # The run's state and its job in one round trip: both are read for every batch.
    state, found = await asyncio.gather(
        bus.runs.get(batch.run_id), bus.store.find_job(batch.job_id)
    )
    if state is None or state.ended or state.plan_hash != batch.plan_hash:
        log.info(
            "batch of a plan no longer in force: dropped",
            batch=batch.number,
            state=state.state if state else None,
        )
        if state is not None and state.ended and found is not None:
            await finish_writes(bus, found)
        return
    if batch.number not in state.done:
        job = found or await bus.store.job(batch.job_id)  # none: the job's error, as ever
        if await timed_out(bus, job, batch.run_id, state):
            await finish_writes(bus, job)
            return
        try:
            with (
                tracing.span(
                    "batch",
                    job_id=batch.job_id,
                    run_id=batch.run_id,
                    batch=batch.number,
                    changes=len(batch.changes),
                ),
                metrics.timed(metrics.BATCH_SECONDS, batch.job_id),
                metrics.provider_errors("apply"),
            ):
                errors = await _write(batch, job, bus, state.approved_at, runner_id)
        except PERMANENT as error:  # no retry mends it: the run ends now, saying why
            reason = f"batch {batch.number} of {sum(state.phases)} not applied: {error}"
            log.error("run failed", reason=reason)
            await fail_run(bus, batch.run_id, batch.job_id, reason)
            await finish_writes(bus, job)
            return
        failpoint("after-write")
        metrics.applied(batch.job_id, batch.changes, errors)
        # What this batch did, as far as it knows: the run's state counts it exactly.
        stats = count_batch(batch, errors, Ledger(state.failed_records), ())
        reasons = record_errors(batch, errors)
        first = await publish_rest(
            bus, batch.run_id, batch.job_id, batch.plan_hash, batch.number, reasons
        )
        await bus.publish(
            RunBatchApplied(
                run_id=batch.run_id,
                job_id=batch.job_id,
                id=batch_applied_id(batch.run_id, batch.plan_hash, batch.number),
                plan_hash=batch.plan_hash,
                batch=batch.number,
                batches=sum(state.phases),
                runner=runner_id,
                attempt=attempt,
                changes=len(batch.changes),
                stats=stats,
                errors=first,
                errors_total=len(reasons),
            )
        )
        _, recorded = await bus.runs.change(batch.run_id, _record(batch, errors))
        state = recorded or await bus.runs.get(batch.run_id) or state
        failpoint("after-record")
    await _advance(bus, batch, state, runner_id)


async def timed_out(bus: Bus, job: Job, run_id: str, state: RunState) -> bool:
    """Cancel the run if it has outlived its job's time limit (then no batch starts)."""
    if job.timeout is None or state.approved_at is None:
        return False
    limit = parse_interval(job.timeout)
    if seconds_since(state.approved_at) <= limit:
        return False
    reason = f"timed out: still running {job.timeout} after its approval"
    await cancel_run(bus, run_id, job.id, "idsync", reason)
    log.warning("run timed out; cancelled", limit=job.timeout)
    return True


async def _write(
    batch: WorkBatch, job: Job, bus: Bus, at: datetime | None, runner_id: str
) -> list[str | None]:
    """Apply the batch: per change, why it failed, or None."""
    if not batch.changes:
        return []
    connection = await bus.store.connection(job.destination.connection)
    checking = MappingContext.checking(job.id)
    generated = {obj.type: compile_mapping(obj, checking).generated for obj in job.objects}
    hooks = hooks_of(job, batch.run_id, runner_id)
    vetoed = hooks.before(listed(batch.changes)) if hooks else {}
    allowed: Changes = batch.changes  # plain creates as columns stay so where nothing vetoes
    if vetoed:
        allowed = [change for i, change in enumerate(batch.changes) if i not in vetoed]
    refused: dict[int, str] = {}
    ready: Changes
    if any(generated.values()):
        ready, refused = with_passwords(listed(allowed), generated, passwords_of(batch.run_id))
    else:  # no field is generated: each change as planned
        ready = allowed
    outcomes = await apply_by_type(job, connection, ready)  # a provider per object type
    if refused or vetoed:  # the outcomes of those not applied put in their places
        applied = iter(outcomes)
        done = iter(
            [
                Outcome(error=refused[i]) if i in refused else next(applied)
                for i in range(len(allowed))
            ]
        )
        outcomes = [
            Outcome(error=vetoed[i]) if i in vetoed else next(done)
            for i in range(len(batch.changes))
        ]
    errors = [o.error for o in outcomes]
    if hooks:
        hooks.after(listed(batch.changes), errors)
    if not isinstance(batch.changes, Creates):  # a create starts or ends no absence
        await remember(Memory(bus.js), job, batch.changes, errors, at)
    if any(n.trigger == "password" for n in job.notify) and any(generated.values()):
        await _hand_over_passwords(bus, job, batch, ready, errors, generated)
    return errors


async def _hand_over_passwords(
    bus: Bus,
    job: Job,
    batch: WorkBatch,
    ready: Changes,
    errors: list[str | None],
    generated: dict[str, dict[str, PasswordSpec]],
) -> None:
    """Seal the batch's new passwords to the notifier, which mails them and keeps none."""
    key = await notifier_public_key(bus.js)
    if key is None:
        log.warning("passwords not mailed: no notifier has published its key yet")
        return
    field = next((n.recipient_field for n in job.notify if n.recipient_field), None)
    sealed = sealed_passwords(
        batch.run_id,
        batch.job_id,
        listed(batch.changes),
        listed(ready),
        errors,
        generated,
        key,
        field,
    )
    if sealed:
        await bus.publish(
            RunPasswordsSealed(
                run_id=batch.run_id,
                job_id=batch.job_id,
                id=passwords_sealed_id(batch.run_id, batch.plan_hash, batch.number),
                passwords=sealed,
            )
        )


def _record(batch: WorkBatch, errors: list[str | None]) -> StateChange:
    def change(state: RunState | None) -> RunState | None:
        if state is None or state.plan_hash != batch.plan_hash or batch.number in state.done:
            return None  # counted already (or no longer this plan)
        ledger = Ledger(state.failed_records)
        stats = count_batch(batch, errors, ledger, set(state.done))
        state.failed_records = ledger.encode()
        state.done.append(batch.number)
        state.applied = state.applied.add(stats)
        if not state.ended:  # a cancelled run stays cancelled; it counts what was in flight
            state.state = "run.batch-applied"
        return state

    return change


async def advance(bus: Bus, batch: WorkBatch) -> None:
    """Let the run go on after `batch` was dealt with elsewhere (e.g. dropped)."""
    state = await bus.runs.get(batch.run_id)
    if state is not None and state.plan_hash == batch.plan_hash:
        await _advance(bus, batch, state)


async def retrying(bus: Bus, batch: WorkBatch, failure: Failure) -> None:
    """A delivery of the batch failed and it will be tried again: the run says why, now."""
    await bus.publish(
        RunDeliveryFailed(
            run_id=batch.run_id,
            job_id=batch.job_id,
            id=batch_failed_id(
                batch.run_id, batch.plan_hash, batch.number, failure.copy, failure.attempt
            ),
            stage="batch",
            batch=batch.number,
            error=str(failure.error) or type(failure.error).__name__,
            attempt=failure.attempt,
            attempts=failure.attempts,
            retry_in=failure.retry_in,
        )
    )


async def give_up(bus: Bus, batch: WorkBatch, error: BaseException) -> None:
    """The batch failed its last delivery: the run says so and waits for a retry or a drop."""
    await bus.publish(
        RunDeadLetter(
            run_id=batch.run_id,
            job_id=batch.job_id,
            id=batch_dead_id(batch.run_id, batch.plan_hash, batch.number),
            stage="batch",
            batch=batch.number,
            changes=len(batch.changes),
            error=str(error),
        )
    )

    def dead(state: RunState | None) -> RunState | None:
        if state is None or batch.number in state.dead:
            return None
        state.dead.append(batch.number)
        return state

    await bus.runs.change(batch.run_id, dead)


async def finish_writes(bus: Bus, job: Job, *, quietly: bool = True) -> None:
    """Have the destination write what the run's batches staged (`quietly`, for a run that
    ended before its last batch: a failure is only said, and whatever reads or writes the
    destination next writes them)."""
    try:
        connection = await bus.store.connection(job.destination.connection)
        await finish_by_type(job, connection)
    except NotFound as error:  # the connection deleted meanwhile: nothing to write through
        log.warning("staged changes not written yet", error=str(error))
    except Exception as error:
        if not quietly:
            raise
        log.warning("staged changes not written yet", error=str(error) or repr(error))


async def _advance(bus: Bus, batch: WorkBatch, state: RunState, runner_id: str = "") -> None:
    """Start the next phase, or end the run, when this batch's phase is complete."""
    if state.ended:
        if (job := await bus.store.find_job(batch.job_id)) is not None:
            await finish_writes(bus, job)
        return
    if not state.phase_done(batch.phase):
        return
    if not state.all_done:
        await publish_phase(bus, await load_plan(bus, batch.run_id), state)
        return
    totals = state.applied.add(state.planned)
    job = await bus.store.job(batch.job_id)
    # The staged batches written first: the run is finished when its changes are in place.
    # A crash after comes back here (the batch delivered again) and writes nothing twice.
    try:
        await finish_writes(bus, job, quietly=False)
    except PERMANENT as error:
        reason = f"the run's changes could not be written at its end: {error}"
        log.error("run failed", reason=reason)
        await fail_run(bus, batch.run_id, batch.job_id, reason)
        return
    # Cancelled while its changes were written: it ends cancelled, its watermark unmoved.
    now = await bus.runs.get(batch.run_id)
    if now is not None and now.ended:
        log.info("run ended while its changes were written; not finished", state=now.state)
        return
    # Before run.finished, so that a run asked for once this one is seen to end reads from
    # the new watermark; a crash in between comes back here and writes the same again.
    await advance_watermark(Memory(bus.js), job, batch.run_id, state, totals)
    # Published before the state says so: if this runner dies in between, the batch comes
    # back and this runs again; the event's id makes the second publish a duplicate.
    first_time = await bus.publish(
        RunFinished(
            run_id=batch.run_id,
            job_id=batch.job_id,
            id=finished_id(batch.run_id),
            stats=totals,
            plan_hash=batch.plan_hash,
            seconds=seconds_since(state.approved_at),
            with_errors=totals.failed > 0,
        )
    )
    if first_time and state.planned_at is not None:
        applying = seconds_since(state.planned_at)
        metrics.observe(metrics.PHASE_SECONDS, applying, batch.job_id, "apply")

    def finished(current: RunState | None) -> RunState | None:
        if current is None or current.ended:
            return None
        current.state = "run.finished"
        return current

    await bus.runs.change(batch.run_id, finished)
    forget_plan(batch.run_id)
    shutdown(job, batch.run_id, runner_id, totals)
    log.info("finished", **{k: v for k, v in stats_dict(totals).items() if v})


def stats_dict(stats: RunStats) -> dict[str, int]:
    return {name: getattr(stats, name) for name in stats.__struct_fields__}
