"""Ending a run other than by finishing it: failed, or cancelled (by someone, or by its
job's time limit). Each ends a run once; the statistics say what was applied so far."""

from __future__ import annotations

from typing import Protocol

from nats.js import JetStreamContext

from schemas.event_ids import cancelled_id, failed_id
from schemas.events import Event, RunCancelled, RunFailed

from .bus import Bus
from .claims import Claims
from .runs import Runs, RunState


class Journaled(Protocol):
    """Who may end a run: the workflow's bus, or a person's session on an open server."""

    @property
    def js(self) -> JetStreamContext: ...

    @property
    def runs(self) -> Runs: ...

    async def publish(self, event: Event) -> bool: ...


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


async def cancel_run(bus: Journaled, run_id: str, job_id: str, by: str, reason: str) -> bool:
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


async def cancel_job_runs(bus: Journaled, job_id: str, by: str) -> list[str]:
    """The runs of a job being deleted that have not ended — the one its claim let
    through and those waiting their turn (core/claims.py) — cancelled, each saying why:
    nothing is left to run them as they were asked for, and a job made again under the
    same id starts free. Their ends release the claim. The ids of those cancelled."""
    claim = await Claims(bus.js).get(job_id)
    if claim is None:
        return []
    cancelled: list[str] = []
    for run_id in claim.runs:
        doing = "went on" if claim.holds(run_id) else "waited for its turn"
        reason = f"job {job_id} was deleted by {by} while the run {doing}"
        if await cancel_run(bus, run_id, job_id, by, reason):
            cancelled.append(run_id)
    return cancelled
