"""Ending a run other than by finishing it: failed, or cancelled (by someone, or by its
job's time limit). Each ends a run once; the statistics say what was applied so far."""

from __future__ import annotations

from schemas.event_ids import cancelled_id, failed_id
from schemas.events import RunCancelled, RunFailed
from schemas.plan import RunStats

from .bus import Bus
from .runs import RunState


async def fail_run(bus: Bus, run_id: str, job_id: str, reason: str) -> None:
    """End the run `failed` (once), keeping what it applied so far in the statistics."""
    state = await bus.runs.get(run_id)
    applied = state.applied if state is not None else RunStats()
    await bus.publish(
        RunFailed(run_id=run_id, job_id=job_id, id=failed_id(run_id), reason=reason, stats=applied)
    )

    def ended(current: RunState | None) -> RunState:
        current = current or RunState(job_id=job_id, state="run.failed")
        current.state = "run.failed"
        return current

    await bus.runs.change(run_id, ended)


async def cancel_run(bus: Bus, run_id: str, job_id: str, by: str, reason: str) -> bool:
    """Cancel the run unless it has ended: recorded first, so from this moment no runner
    starts another of its batches (one already being applied completes). False when the
    run had already ended."""

    def cancelled(current: RunState | None) -> RunState | None:
        if current is not None and current.ended:
            return None
        current = current or RunState(job_id=job_id, state="run.cancelled")
        current.state = "run.cancelled"
        return current

    _, after = await bus.runs.change(run_id, cancelled)
    if after is None:
        return False
    await bus.publish(
        RunCancelled(
            run_id=run_id,
            job_id=job_id,
            id=cancelled_id(run_id),
            by=by,
            reason=reason,
            stats=after.applied,
        )
    )
    return True
