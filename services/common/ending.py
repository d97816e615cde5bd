"""Ending a run other than by finishing it: failed, or cancelled (by someone, or by its
job's time limit). Each ends a run once; the statistics say what was applied so far."""

from __future__ import annotations

from schemas.event_ids import cancelled_id, failed_id
from schemas.events import RunCancelled, RunFailed

from .bus import Bus
from .runs import RunState


async def fail_run(bus: Bus, run_id: str, job_id: str, reason: str) -> bool:
    """End the run `failed` (once), keeping what it applied so far in the statistics —
    unless it has ended otherwise meanwhile (cancelled while it was planned or while a
    batch was applied, finished, denied): a run has one end. False then. Recorded first,
    as a cancel is; a run already failed is said to be again (its event stored once), so
    that a crash between the two still ends it in the journal."""

    def failed(current: RunState | None) -> RunState | None:
        if current is not None and current.ended and current.state != "run.failed":
            return None
        current = current or RunState(job_id=job_id, state="run.failed")
        current.state = "run.failed"
        return current

    _, after = await bus.runs.change(run_id, failed)
    if after is None:
        return False
    await bus.publish(
        RunFailed(
            run_id=run_id, job_id=job_id, id=failed_id(run_id), reason=reason, stats=after.applied
        )
    )
    return True


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
