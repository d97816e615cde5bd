"""Planning a run: from its approval to its first batches on the work queue.

The runner that receives a run's approval reads both sides and computes the whole plan
(nothing is written before it is complete), keeps the plan in the object store,
records the run's state and puts the first phase's batches on the work queue, where
every runner takes its share (work.py). A failure found while planning (a bad file,
duplicate keys, an unwritable destination) ends the run `failed` with nothing written.

A runner that dies while planning leaves the approval unacknowledged: after the ack
wait another runner receives it and plans again, and its `run.started` says so. One
that dies after storing the plan is resumed from it: the plan is not made twice.
"""

from __future__ import annotations

from datetime import datetime

import structlog

from core.errors import PERMANENT, BadInput, StoreFull
from core.run_texts import kept_warnings
from schemas.event_ids import awaiting_id, finished_id, planned_id, started_id
from schemas.events import (
    RunApproved,
    RunAwaitingApproval,
    RunFinished,
    RunPlanned,
    RunStarted,
)
from schemas.ids import utcnow
from schemas.jobs import Job
from schemas.plan import RunStats
from services.common import metrics, tracing
from services.common.bus import Bus
from services.common.ending import fail_run
from services.common.failpoints import failpoint
from services.common.runs import RunState, StateChange
from services.common.stored_plans import load_plan
from services.common.watermarks import Memory, source_of
from services.runner.hooks import hooks_of
from services.runner.planning import Asked, PlannedRun, plan_run

from .absences import forget_returned
from .outcomes import planned_stats, shared_records
from .plans import Batched, publish_phase, store_plan
from .reasons import publish_rest

WAITING = "run.awaiting-approval"

log = structlog.get_logger("idsync.runner")


class Planner:
    """One attempt at planning one approved run."""

    def __init__(self, approved: RunApproved, attempt: int, bus: Bus, runner_id: str) -> None:
        self.approved = approved
        self.attempt = attempt
        self.bus = bus
        self.runner_id = runner_id
        self.run_id = approved.run_id
        self.job_id = approved.job_id
        self.clock = approved.at
        """The run's clock its plan is made with: its approval time, or the first plan's
        when it waited for approval (RunState.approved_at while it waits)."""

    async def execute(self) -> None:
        state = await self.bus.runs.get(self.run_id)
        if state is not None and state.ended:
            log.info("run already ended; nothing to do", state=state.state)
            return
        waiting = state is not None and state.state == WAITING
        if waiting and self.approved.plan_hash is None:
            return  # the first approval, delivered again: the run waits for its plan's
        if state is not None and state.plan_hash and not waiting:
            log.info("plan already made; resuming it", attempt=self.attempt)
            await publish_phase(self.bus, await load_plan(self.bus, self.run_id), state)
            return
        reason = "planning again: the previous attempt stopped" if self.attempt > 1 else ""
        await self.bus.publish(
            RunStarted(
                run_id=self.run_id,
                job_id=self.job_id,
                id=started_id(self.approved.id, self.attempt),
                runner=self.runner_id,
                attempt=self.attempt,
                reason=reason,
            )
        )
        try:
            job = await self.bus.store.job(self.job_id)
            if (hooks := hooks_of(job, self.run_id, self.runner_id)) is not None:
                try:
                    hooks.call("startup")
                except Exception as error:  # a startup hook may refuse the run
                    raise BadInput(f"the startup hook refused the run: {error}") from None
            approved = self.approved
            # A plan approved after it waited is planned again with the clock it was made
            # with (%NOW%, the lifecycle's days): the very plan approved, unless the data
            # or the connections changed.
            if waiting and state is not None and state.approved_at is not None:
                self.clock = state.approved_at
            asked = Asked(
                keys=approved.keys,
                changed_only=approved.changed_only,
                trigger=approved.trigger,
                at=self.clock,
                run_id=self.run_id,
            )
            with (
                tracing.span("plan", job_id=self.job_id, run_id=self.run_id),
                metrics.timed(metrics.PHASE_SECONDS, self.job_id, "plan"),
                metrics.provider_errors("plan"),
            ):
                planned = await plan_run(self.bus.store, Memory(self.bus.js), job, asked)
        except PERMANENT as error:
            await self.fail(str(error))
            return
        if job.staging:
            await self._staged(planned)
            return
        unsafe = self._needs_approval(job, planned)
        if unsafe is not None:
            await self._await_approval(planned, unsafe)
            return
        await self._keep(job, planned)

    def _needs_approval(self, job: Job, planned: PlannedRun) -> str | None:
        """Why this plan must wait for approval; None when it may be applied now."""
        if self.approved.plan_hash == planned.plan.hash:
            return None  # this very plan was approved
        reason = planned.over_limits(job, self.approved.keys)
        if self.approved.plan_hash is None:
            return reason
        # Another plan than the one approved is never applied under its approval, even
        # one within the limits: it waits for an approval of its own.
        changed = "the data or the connections changed since the plan was approved"
        return (
            f"{reason}; {changed}" if reason is not None else f"{changed[0].upper()}{changed[1:]}"
        )

    async def _await_approval(self, planned: PlannedRun, reason: str) -> None:
        """Write nothing; wait for `idsync run approve|deny` on this plan."""
        the_plan = planned.plan
        state = RunState(
            job_id=self.job_id,
            state=WAITING,
            plan_hash=the_plan.hash,
            approved_at=self.clock,
            requested_by=self.approved.requested_by,
            keys=self.approved.keys,
            changed_only=self.approved.changed_only,
        )
        if (await self.bus.runs.change(self.run_id, _unless_ended(state)))[1] is None:
            log.info("run ended while planning (cancelled?); its plan does not wait")
            return
        await self._announce(planned)
        await self.bus.publish(
            RunAwaitingApproval(
                run_id=self.run_id,
                job_id=self.job_id,
                id=awaiting_id(self.run_id, the_plan.hash),
                reason=reason,
                plan_hash=the_plan.hash,
                counts=the_plan.counts,
            )
        )
        log.warning("plan waits for approval", reason=reason)

    async def _staged(self, planned: PlannedRun) -> None:
        """Staging: the plan is reported, and nothing is written."""
        state = RunState(job_id=self.job_id, state="run.finished", plan_hash=planned.plan.hash)
        if (await self.bus.runs.change(self.run_id, _unless_ended(state)))[1] is None:
            log.info("run ended while planning (cancelled?); its staged plan is not reported")
            return
        await self._announce(planned)
        totals = self._planned_stats(planned)
        await self.bus.publish(
            RunFinished(
                run_id=self.run_id,
                job_id=self.job_id,
                id=finished_id(self.run_id),
                stats=totals,
                plan_hash=planned.plan.hash,
                seconds=seconds_since(self.approved.at),
                staged=True,
            )
        )

    async def _announce(self, planned: PlannedRun, batches: int = 0) -> None:
        the_plan = planned.plan
        errors = planned.record_errors
        first = await publish_rest(self.bus, self.run_id, self.job_id, the_plan.hash, None, errors)
        warnings, warnings_total = kept_warnings(the_plan.warnings)
        await self.bus.publish(
            RunPlanned(
                run_id=self.run_id,
                job_id=self.job_id,
                id=planned_id(self.run_id, the_plan.hash),
                plan_hash=the_plan.hash,
                counts=the_plan.counts,
                source_records=planned.source_records,
                destination_records=planned.destination_records,
                batches=batches,
                errors=first,
                errors_total=len(errors),
                incremental=planned.incremental,
                since=planned.since,
                full_because=planned.full_because,
                warnings=warnings,
                warnings_total=warnings_total,
                absence_withheld=the_plan.leading > 0,
            )
        )

    @staticmethod
    def _planned_stats(planned: PlannedRun) -> RunStats:
        the_plan = planned.plan
        return planned_stats(
            the_plan.changes, planned.record_errors, the_plan.counts, planned.source_records
        )

    async def _keep(self, job: Job, planned: PlannedRun) -> None:
        """Store the plan, record the run's state, announce the plan, start the first phase."""
        the_plan = planned.plan
        batched = Batched(the_plan.changes, job.batch_size)
        shared, failed_records = shared_records(batched, planned.record_errors)
        stored = await store_plan(
            self.bus,
            self.run_id,
            self.job_id,
            the_plan.hash,
            batched,
            shared,
            site=self.bus.settings.site,  # a site's runner plans its site's runs only
        )
        state = RunState(
            job_id=self.job_id,
            state="run.planned",
            plan_hash=the_plan.hash,
            phases=list(stored.batches),
            planned=self._planned_stats(planned),
            failed_records=failed_records,
            approved_at=self.approved.at,
            planned_at=utcnow(),
            keys=self.approved.keys,
            incremental=planned.incremental,
            watermark=planned.watermark,
            watermark_field=job.changes.field if job.changes is not None else None,
            watermark_source=source_of(job),
        )
        _, state_now = await self.bus.runs.change(self.run_id, _unless_ended(state))
        if state_now is None:
            log.info("run ended while planning (cancelled?); its plan is not applied")
            return
        await self._announce(planned, sum(state.phases))
        await forget_returned(Memory(self.bus.js), job, planned.plan.returned)
        log.info(
            "planned",
            changes=the_plan.counts.changes,
            batches=sum(state.phases),
            phases=len(state.phases),
        )
        failpoint("after-plan")
        try:
            await publish_phase(self.bus, stored, state_now or state, (batched, shared))
        except StoreFull as error:  # the work queue is full: this run cannot be applied
            await self.fail(str(error))

    async def fail(self, reason: str) -> None:
        log.error("run failed", reason=reason)
        await fail_run(self.bus, self.run_id, self.job_id, reason)


def _unless_ended(new: RunState) -> StateChange:
    """Replace the run's state with `new`, unless the run has ended (e.g. was cancelled)."""

    def change(current: RunState | None) -> RunState | None:
        return None if current is not None and current.ended else new

    return change


def seconds_since(moment: datetime | None) -> float:
    if moment is None:
        return 0.0
    return round(datetime.now(moment.tzinfo).timestamp() - moment.timestamp(), 3)
