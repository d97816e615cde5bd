"""Runs as people see them, folded from the journal's events (pure)."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime

import msgspec

from schemas.events import (
    Event,
    RunApproved,
    RunAwaitingApproval,
    RunBatchApplied,
    RunCancelled,
    RunDeadLetter,
    RunDeliveryFailed,
    RunDenied,
    RunFailed,
    RunFinished,
    RunNotifyFailed,
    RunPasswordsSealed,
    RunPlanned,
    RunRecordErrors,
    RunRequested,
    RunStarted,
    tag_of,
)
from schemas.plan import PlanCounts, RecordError, RunStats
from services.common.record_errors import RunErrors


class RunSummary(msgspec.Struct, kw_only=True):
    run_id: str
    job_id: str
    state: str = "requested"
    requested_by: str = ""
    trigger: str = ""
    approved_by: str = ""
    requested_at: datetime | None = None
    ended_at: datetime | None = None
    plan_hash: str = ""
    planned: PlanCounts | None = None
    stats: RunStats = msgspec.field(default_factory=RunStats)
    reason: str = ""
    errors: list[RecordError] = msgspec.field(default_factory=list)
    """Every reason of the records that failed: the plan's, then the batches'."""
    events: list[str] = msgspec.field(default_factory=list)
    failed_attempts: list[str] = msgspec.field(default_factory=list)
    """Deliveries that failed and were tried again, each with its reason (attempt_line)."""
    mail_failures: list[str] = msgspec.field(default_factory=list)
    """Why mails about the run were not sent (the run's own state is unchanged)."""
    incremental: bool = False
    """Only source records changed since `since` were read; absence was not acted on."""
    since: str | None = None


def fold(events: Iterable[Event]) -> list[RunSummary]:
    """One summary per run, oldest request first."""
    runs: dict[str, RunSummary] = {}
    errors: dict[str, RunErrors] = {}
    for event in events:
        run = runs.setdefault(event.run_id, RunSummary(run_id=event.run_id, job_id=event.job_id))
        run.events.append(tag_of(event))
        if run.requested_at is None:
            run.requested_at = event.at
        _apply(run, event)
        errors.setdefault(event.run_id, RunErrors()).apply(event)
    for run_id, found in errors.items():
        runs[run_id].errors = found.all
    return sorted(runs.values(), key=lambda r: (r.requested_at or datetime.min, r.run_id))


def _apply(run: RunSummary, event: Event) -> None:
    match event:
        case RunRequested(requested_by=who, trigger=trigger):
            run.requested_by, run.trigger, run.requested_at = who, trigger, event.at
        case RunApproved(approved_by=who):
            run.approved_by, run.state = who, "approved"
        case RunStarted():
            run.state = "running"
        case RunPlanned(plan_hash=plan_hash, counts=counts):
            run.plan_hash, run.planned, run.state = plan_hash, counts, "applying"
            run.incremental, run.since = event.incremental, event.since
        case RunBatchApplied() | RunRecordErrors():
            pass  # their errors: RunErrors
        case RunFinished(stats=stats, with_errors=with_errors):
            run.stats, run.ended_at = stats, event.at
            run.state = "finished with errors" if with_errors else "finished"
        case RunFailed(reason=reason, stats=stats):
            run.state, run.reason, run.stats, run.ended_at = "failed", reason, stats, event.at
        case RunCancelled(stats=stats, reason=reason):
            run.state, run.stats, run.ended_at = "cancelled", stats, event.at
            run.reason = reason
        case RunAwaitingApproval(reason=reason):
            run.state, run.reason = "waiting for approval", reason
        case RunDeliveryFailed():
            run.failed_attempts.append(attempt_line(event))
        case RunDeadLetter(stage=stage, batch=batch, error=error):
            what = f"batch {batch}" if stage == "batch" else "its plan"
            run.state = "waiting: dead letter"
            run.reason = f"{what} failed its last delivery: {error}"
        case RunDenied(reason=reason):
            run.state, run.reason, run.ended_at = "denied", reason, event.at
        case RunNotifyFailed(reason=reason):
            run.mail_failures.append(reason)
        case RunPasswordsSealed():
            pass  # for the notifier alone; the run's state is unchanged
        case _:
            run.state = tag_of(event).removeprefix("run.")


def attempt_line(event: RunDeliveryFailed) -> str:
    """A failed delivery as people read it: what, which attempt, when again, and why."""
    what = f"batch {event.batch}" if event.stage == "batch" else "planning"
    of = f" of {event.attempts}" if event.attempts else ""
    return (
        f"{what}: attempt {event.attempt}{of} failed, trying again in "
        f"{event.retry_in:g}s: {event.error}"
    )
