"""A run as its mail tells it, folded from the run's events in the journal (pure).

Like `idsync run show` (services/cli/runs.py), but keeping what a mail needs besides:
everyone who approved, and the records read on each side. Both read the errors — the
plan's in force and its batches' — through the same fold (services/common/record_errors.py).
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime

import msgspec

from schemas.events import (
    Event,
    RunApproved,
    RunAwaitingApproval,
    RunCancelled,
    RunDenied,
    RunFailed,
    RunFinished,
    RunPlanned,
    RunRequested,
    RunStarted,
    tag_of,
)
from schemas.plan import PlanCounts, RecordError, RunStats
from services.common.record_errors import RunErrors


class RunDigest(msgspec.Struct, kw_only=True):
    run_id: str
    job_id: str
    state: str = "requested"
    requested_by: str = ""
    trigger: str = ""
    requested_at: datetime | None = None
    approved_by: list[str] = msgspec.field(default_factory=list)
    """Everyone who approved the run (the workflow at once, a person for a held plan)."""
    attempts: int = 0
    plan_hash: str = ""
    planned: PlanCounts | None = None
    source_records: int = 0
    destination_records: int = 0
    plan_errors: list[RecordError] = msgspec.field(default_factory=list)
    batch_errors: list[RecordError] = msgspec.field(default_factory=list)
    stats: RunStats = msgspec.field(default_factory=RunStats)
    seconds: float | None = None
    ended_at: datetime | None = None
    reason: str = ""
    staged: bool = False

    @property
    def errors(self) -> list[RecordError]:
        return self.plan_errors + self.batch_errors

    @property
    def duration(self) -> float | None:
        """Seconds the run took: as the runner measured it, else from request to end."""
        if self.seconds is not None:
            return self.seconds
        if self.requested_at is not None and self.ended_at is not None:
            return max((self.ended_at - self.requested_at).total_seconds(), 0.0)
        return None


def digest(events: Iterable[Event], upto: Event) -> RunDigest:
    """The run of `upto` as it stood at that event, from the events in journal order
    (other runs' events, and those after `upto`, are left out: a notifier that lags
    behind still tells each event's story as it was then)."""
    run = RunDigest(run_id=upto.run_id, job_id=upto.job_id)
    errors = RunErrors()
    for event in events:
        if event.run_id != upto.run_id:
            continue
        if run.requested_at is None:
            run.requested_at = event.at
        _apply(run, event)
        errors.apply(event)
        if event.id == upto.id:
            break
    else:
        _apply(run, upto)  # not read back (yet): the event itself still counts
        errors.apply(upto)
    run.plan_errors, run.batch_errors = errors.plan, errors.batches
    return run


def _apply(run: RunDigest, event: Event) -> None:
    match event:
        case RunRequested(requested_by=who, trigger=trigger):
            run.requested_by, run.trigger, run.requested_at = who, trigger, event.at
        case RunApproved(approved_by=who, requested_by=requested_by):
            if who and who not in run.approved_by:
                run.approved_by.append(who)
            run.requested_by = run.requested_by or requested_by
        case RunStarted(attempt=attempt):
            run.state, run.attempts = "running", max(run.attempts, attempt)
        case RunPlanned():
            # A re-plan replaces the plan (and, in RunErrors, the plan's errors).
            run.plan_hash, run.planned = event.plan_hash, event.counts
            run.source_records = event.source_records
            run.destination_records = event.destination_records
            run.state = "applying"
        case RunAwaitingApproval(plan_hash=plan_hash, counts=counts, reason=reason):
            run.state, run.reason = "awaiting approval", reason
            run.plan_hash, run.planned = plan_hash or run.plan_hash, counts or run.planned
        case RunFinished(stats=stats, with_errors=with_errors, seconds=seconds, staged=staged):
            run.state = "finished with errors" if with_errors else "finished"
            run.stats, run.seconds, run.staged, run.ended_at = stats, seconds, staged, event.at
        case RunFailed(reason=reason, stats=stats):
            run.state, run.reason, run.stats, run.ended_at = "failed", reason, stats, event.at
        case RunCancelled(by=by, reason=reason, stats=stats):
            run.state, run.stats, run.ended_at = "cancelled", stats, event.at
            run.reason = f"by {by}" + (f": {reason}" if reason else "")
        case RunDenied(by=by, reason=reason):
            run.state, run.ended_at = "denied", event.at
            run.reason = f"by {by}" + (f": {reason}" if reason else "")
        case _ if tag_of(event) == "run.expired":
            run.state, run.ended_at = "expired", event.at
        case _:
            pass  # dead letters, mail failures: not part of the run's own story
