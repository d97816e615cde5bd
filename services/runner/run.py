"""A run, from approval to its end state: read both sides, plan in full, then apply.

Nothing is written before the whole plan is known. A failure found while planning
(a bad file, duplicate keys, an unwritable destination) ends the run `failed` with
nothing written. A passing failure (a locked database) is raised, so the approval
is delivered again later and the run is re-planned: the new plan holds only what
is still to do, and the counts of earlier attempts are kept in the run's state.
"""

from __future__ import annotations

import time

import structlog

from schemas.events import (
    RunApproved,
    RunBatchApplied,
    RunFailed,
    RunFinished,
    RunPlanned,
    RunStarted,
)
from schemas.jobs import Job
from schemas.plan import APPLIED_STAT, Change, RecordError, RunStats
from services.common.bus import Bus
from services.common.errors import BadInput, WriteFailed
from services.common.store import RunState
from services.runner.engine import split_batches
from services.runner.engine.plan import Plan
from services.runner.planning import open_sides, plan_job
from services.runner.providers.base import Outcome, Provider

MAX_BATCH_BYTES = 512 * 1024  # well under the server's 1 MiB message limit
MAX_ERRORS_PER_EVENT = 100

log = structlog.get_logger("idsync.runner")


class Run:
    """One attempt at one approved run."""

    def __init__(self, approved: RunApproved, attempt: int, bus: Bus, runner_id: str) -> None:
        self.approved = approved
        self.attempt = attempt
        self.bus = bus
        self.runner_id = runner_id
        self.run_id = approved.run_id
        self.job_id = approved.job_id

    async def execute(self) -> None:
        state = await self.bus.store.run_state(self.run_id)
        if state is not None and state.ended:
            log.info("run already ended; nothing to do", state=state.state)
            return
        applied = state.applied if state is not None else RunStats()
        await self._publish_state(
            RunStarted(
                run_id=self.run_id,
                job_id=self.job_id,
                id=f"{self.run_id}.started.{self.attempt}",
                runner=self.runner_id,
                attempt=self.attempt,
            ),
            applied,
        )
        try:
            job = await self.bus.store.job(self.job_id)
            await self._run(job, applied)
        except (BadInput, WriteFailed) as error:
            await self.fail(str(error), applied)

    async def fail(self, reason: str, applied: RunStats | None = None) -> None:
        log.error("run failed", reason=reason)
        event = RunFailed(
            run_id=self.run_id,
            job_id=self.job_id,
            id=f"{self.run_id}.failed",
            reason=reason,
            stats=applied or RunStats(),
        )
        await self._publish_state(event, applied or RunStats())

    async def _run(self, job: Job, applied: RunStats) -> None:
        async with open_sides(self.bus.store, job) as sides:
            planned = await plan_job(job, sides, self.approved.keys)
            the_plan = planned.plan
            # A plan with nothing to do still has its apply phase, reported as one empty batch.
            batches = split_batches(the_plan.changes, job.batch_size, MAX_BATCH_BYTES) or [[]]
            await self._publish_state(
                RunPlanned(
                    run_id=self.run_id,
                    job_id=self.job_id,
                    id=f"{self.run_id}.planned.{self.attempt}",
                    plan_hash=the_plan.hash,
                    counts=the_plan.counts,
                    source_records=planned.source_records,
                    destination_records=planned.destination_records,
                    batches=len(batches),
                ),
                applied,
            )
            log.info("planned", changes=the_plan.counts.changes, batches=len(batches))
            for number, batch in enumerate(batches, start=1):
                stats = await self._apply(sides.destination, batch, number, len(batches), the_plan)
                applied = applied.add(stats)
                await self.bus.store.put_run_state(
                    self.run_id,
                    RunState(job_id=self.job_id, state="run.batch-applied", applied=applied),
                )
        totals = applied.add(
            RunStats(
                read=planned.source_records,
                unchanged=the_plan.counts.unchanged,
                skipped=the_plan.counts.skipped,
            )
        )
        seconds = time.time() - self.approved.at.timestamp()
        await self._publish_state(
            RunFinished(
                run_id=self.run_id,
                job_id=self.job_id,
                id=f"{self.run_id}.finished",
                stats=totals,
                plan_hash=the_plan.hash,
                seconds=round(seconds, 3),
                with_errors=totals.failed > 0,
            ),
            totals,
        )
        log.info("finished", **{k: v for k, v in stats_dict(totals).items() if v})

    async def _apply(
        self, destination: Provider, batch: list[Change], number: int, batches: int, the_plan: Plan
    ) -> RunStats:
        outcomes = await destination.apply(batch) if batch else []
        stats, errors = tally(batch, outcomes)
        await self.bus.publish(
            RunBatchApplied(
                run_id=self.run_id,
                job_id=self.job_id,
                id=f"{self.run_id}.batch.{self.attempt}.{number}",
                plan_hash=the_plan.hash,
                batch=number,
                batches=batches,
                changes=len(batch),
                stats=stats,
                errors=errors[:MAX_ERRORS_PER_EVENT],
            )
        )
        return stats

    async def _publish_state(
        self, event: RunStarted | RunPlanned | RunFinished | RunFailed, applied: RunStats
    ) -> None:
        await self.bus.publish(event)
        state = RunState(
            job_id=self.job_id, state=str(event.__struct_config__.tag), applied=applied
        )
        await self.bus.store.put_run_state(self.run_id, state)


def tally(batch: list[Change], outcomes: list[Outcome]) -> tuple[RunStats, list[RecordError]]:
    """Statistics and per-record errors of one applied batch."""
    counts = dict.fromkeys(APPLIED_STAT.values(), 0)
    errors: list[RecordError] = []
    for change, outcome in zip(batch, outcomes, strict=True):
        if outcome.error is None:
            counts[APPLIED_STAT[change.action]] += 1
        else:
            errors.append(RecordError(key=change.key, action=change.action, message=outcome.error))
    return RunStats(failed=len(errors), **counts), errors


def stats_dict(stats: RunStats) -> dict[str, int]:
    return {name: getattr(stats, name) for name in stats.__struct_fields__}
