"""A run's story, folded from its events in journal order (pure).

The one fold of the journal: `idsync run list|show` print it, the notifier's mails tell
it. So both say the same state in the same words, the same reasons, every record error
(the plan's in force and its batches', through core/record_errors.py) and the same
dead letters.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime

import msgspec

from schemas.events import (
    Event,
    RunApproved,
    RunAwaitingApproval,
    RunBatchApplied,
    RunBatchDropped,
    RunCancelled,
    RunDeadLetter,
    RunDeliveryFailed,
    RunDenied,
    RunExpired,
    RunFailed,
    RunFinished,
    RunNotifyFailed,
    RunPasswordsSealed,
    RunPlanned,
    RunQueued,
    RunRecordErrors,
    RunRequested,
    RunStarted,
    RunWaitingForSite,
    tag_of,
)
from schemas.plan import PlanCounts, RecordError, RunStats

from .record_errors import RunErrors


class RunStory(msgspec.Struct, kw_only=True):
    run_id: str
    job_id: str
    state: str = "requested"
    """In words: requested, waiting: run <id> (another run of its job goes on), approved,
    waiting: site <name> (for a runner of its site),
    running, applying, awaiting approval, waiting: dead letter, finished, finished with
    errors, failed, cancelled, denied, expired."""
    requested_by: str = ""
    trigger: str = ""
    requested_at: datetime | None = None
    approved_by: str = ""
    """Who approved last: the approval the run goes ahead under."""
    approvals: list[str] = msgspec.field(default_factory=list)
    """Everyone who approved, each once (the workflow at once, a person for a held plan)."""
    attempts: int = 0
    """The runner's attempts at planning (more than one: a runner stopped while planning)."""
    plan_hash: str = ""
    planned: PlanCounts | None = None
    source_records: int = 0
    destination_records: int = 0
    incremental: bool = False
    """Only source records changed since `since` were read; absence was not acted on."""
    keys: list[str] | None = None
    """The keys the run was asked for alone (`--key`, a system's request, provisioning one
    object): absence was not acted on. None: every record."""
    since: str | None = None
    full_because: str = ""
    """Asked for incremental, a full run after all: why its source read every record."""
    warnings: list[str] = msgspec.field(default_factory=list)
    """The plan's warnings, the first ones as `idsync job preview` says them."""
    warnings_total: int = 0
    """How many warnings the plan had in all (core/run_texts.py `warning_lines`)."""
    absence_withheld: bool = False
    """The plan acted on no absent object of some type, for source records it could not
    match (events.RunPlanned)."""
    stats: RunStats = msgspec.field(default_factory=RunStats)
    seconds: float | None = None
    """How long the run took, as the runner measured it."""
    ended_at: datetime | None = None
    reason: str = ""
    waited: str = ""
    """Why the run waited for approval before it was approved (its `reason` then)."""
    staged: bool = False
    """The job is in staging: the run planned and wrote nothing."""
    errors: list[RecordError] = msgspec.field(default_factory=list)
    """Every reason of the records that failed: the plan's in force, then the batches'."""
    events: list[str] = msgspec.field(default_factory=list)
    """The tags of the run's events, in order."""
    waiting_on: list[int] = msgspec.field(default_factory=list)
    """The batches that failed their last delivery and wait for a retry or a drop: the
    run waits while one does."""
    failed_attempts: list[str] = msgspec.field(default_factory=list)
    """Deliveries that failed and were tried again, each with its reason (attempt_line)."""
    mail_failures: list[str] = msgspec.field(default_factory=list)
    """Why mails about the run were not sent (the run's own state is unchanged)."""

    @property
    def duration(self) -> float | None:
        """Seconds the run took: as the runner measured it, else from request to end."""
        if self.seconds is not None:
            return self.seconds
        if self.requested_at is not None and self.ended_at is not None:
            return max((self.ended_at - self.requested_at).total_seconds(), 0.0)
        return None


class _Telling:
    """One run's story being folded, event by event."""

    def __init__(self, run_id: str, job_id: str) -> None:
        self.story = RunStory(run_id=run_id, job_id=job_id)
        self.errors = RunErrors()
        self.seen: set[str] = set()

    def add(self, event: Event) -> None:
        # A fact published again (a batch delivered again after its runner published what
        # it did and died) has the same id; stored twice past the journal's duplicate
        # window, it is still told once.
        if event.id in self.seen:
            return
        self.seen.add(event.id)
        story = self.story
        story.events.append(tag_of(event))
        if story.requested_at is None:
            story.requested_at = event.at
        _apply(story, event)
        self.errors.apply(event)

    def told(self) -> RunStory:
        self.story.errors = self.errors.all
        return self.story


def fold(events: Iterable[Event]) -> list[RunStory]:
    """Every run of the events (in journal order), oldest request first."""
    runs: dict[str, _Telling] = {}
    for event in events:
        runs.setdefault(event.run_id, _Telling(event.run_id, event.job_id)).add(event)
    stories = [telling.told() for telling in runs.values()]
    return sorted(stories, key=lambda r: (r.requested_at or datetime.min, r.run_id))


def story_at(events: Iterable[Event], upto: Event) -> RunStory:
    """The run of `upto` as it stood at that event, from the events in journal order
    (other runs' events, and those after `upto`, are left out: a notifier that lags
    behind still tells each event's story as it was then)."""
    telling = _Telling(upto.run_id, upto.job_id)
    for event in events:
        if event.run_id != upto.run_id:
            continue
        telling.add(event)
        if event.id == upto.id:
            break
    else:
        telling.add(upto)  # not read back (yet): the event itself still counts
    return telling.told()


def _apply(run: RunStory, event: Event) -> None:
    match event:
        case RunRequested(requested_by=who, trigger=trigger, keys=keys):
            run.requested_by, run.trigger, run.requested_at = who, trigger, event.at
            run.keys = keys
        case RunQueued(behind=behind, behind_state=behind_state):
            if run.state == "requested":
                going = f" ({behind_state})" if behind_state else ""
                run.state = f"waiting: run {behind}"
                run.reason = (
                    f"job {event.job_id} has run {behind} going on{going}: this run starts "
                    "once it (and any run asked for before this one) has ended"
                )
        case RunApproved(approved_by=who, requested_by=requested_by):
            if run.state == "awaiting approval":  # it waited: why is no reason any more
                run.waited, run.reason = run.reason, ""
            elif run.state.startswith("waiting: run"):  # its turn came
                run.reason = ""
            run.approved_by, run.state = who, "approved"
            if who and who not in run.approvals:
                run.approvals.append(who)
            run.requested_by = run.requested_by or requested_by
        case RunWaitingForSite(site=site):
            run.state = f"waiting: site {site}"
            run.reason = f"its job lives in site {site}: it waits for one of that site's runners"
        case RunStarted(attempt=attempt):
            if run.state.startswith("waiting: site"):
                run.reason = ""  # a runner of the site took it
            run.state, run.attempts = "running", max(run.attempts, attempt)
        case RunPlanned():
            # A re-plan replaces the plan (and, in RunErrors, the plan's errors).
            run.plan_hash, run.planned, run.state = event.plan_hash, event.counts, "applying"
            run.source_records = event.source_records
            run.destination_records = event.destination_records
            run.incremental, run.since = event.incremental, event.since
            run.full_because = event.full_because or ""
            run.warnings = list(event.warnings)
            run.warnings_total = max(event.warnings_total, len(event.warnings))
            run.absence_withheld = event.absence_withheld
        case RunAwaitingApproval(plan_hash=plan_hash, counts=counts, reason=reason):
            run.state, run.reason = "awaiting approval", reason
            run.plan_hash, run.planned = plan_hash or run.plan_hash, counts or run.planned
        case RunBatchApplied(batch=batch, stats=stats):  # its errors: RunErrors
            if run.state in AFTER_AN_END:
                # A batch in flight when the run was cancelled (or failed) completes, after
                # its end in the journal: the end's statistics, taken from the run's state
                # before it, do not count it (the runner publishes a batch applied before
                # it records it in that state). Its objects were written all the same.
                run.stats = run.stats.add(stats)
            if batch in run.waiting_on:  # a dead letter retried, applied now
                run.waiting_on.remove(batch)
                if not run.waiting_on and run.state == "waiting: dead letter":
                    run.state = "applying"
        case RunRecordErrors():
            pass  # their errors: RunErrors
        case RunDeliveryFailed():
            run.failed_attempts.append(attempt_line(event))
        case RunDeadLetter(stage=stage, batch=batch, error=error):
            what = f"batch {batch}" if stage == "batch" else "its plan"
            run.state = "waiting: dead letter"
            run.reason = f"{what} failed its last delivery: {error}"
            if stage == "batch" and batch is not None and batch not in run.waiting_on:
                run.waiting_on.append(batch)
        case RunBatchDropped(batch=batch, by=by):
            if batch in run.waiting_on:
                run.waiting_on.remove(batch)
            run.reason = f"batch {batch} dropped by {by} after it failed its last delivery"
            if run.waiting_on:  # another dead letter still holds the run
                others = ", ".join(map(str, run.waiting_on))
                run.state = "waiting: dead letter"
                run.reason += f"; batch {others} still waits for a retry or a drop"
            else:
                run.state = "applying"  # the run goes on without the batch
        case RunFinished(stats=stats, with_errors=with_errors, seconds=seconds, staged=staged):
            run.state = "finished with errors" if with_errors else "finished"
            run.stats, run.seconds, run.staged, run.ended_at = stats, seconds, staged, event.at
        case RunFailed(reason=reason, stats=stats):
            run.state, run.reason, run.stats, run.ended_at = "failed", reason, stats, event.at
        case RunCancelled(by=by, reason=reason, stats=stats):
            run.state, run.stats, run.ended_at = "cancelled", stats, event.at
            run.reason = _by(by, reason)
        case RunDenied(by=by, reason=reason):
            if run.state == "awaiting approval":  # why it waited stays told
                run.waited = run.reason
            run.state, run.ended_at = "denied", event.at
            run.reason = _by(by, reason)
        case RunExpired(reason=reason):
            if run.state == "awaiting approval" and reason:
                run.waited = run.reason
            run.state, run.ended_at = "expired", event.at
            run.reason = reason or run.reason
        case RunNotifyFailed(reason=reason):
            run.mail_failures.append(reason)
        case RunPasswordsSealed():
            pass  # for the notifier alone; the run's state is unchanged


AFTER_AN_END = frozenset({"cancelled", "failed"})
"""Ends after which a batch may still be applied: one that was being applied then."""

AUTOMATIC_APPROVER = "workflow"
"""Who approves a request no approval policy covers (services/workflow/app.py `decide`)."""
NEVER_APPROVED = ("awaiting approval", "denied", "expired")
"""States of a run whose plan waited and was never approved (or waits still)."""


def approvers(run: RunStory) -> list[str]:
    """Who approved the run, as people are told: the workflow's approval of a request
    no policy covers is said only when nobody else approved and the run went on — not
    while its plan waits for approval, nor once the wait ended it (denied, expired)."""
    people = [who for who in run.approvals if who != AUTOMATIC_APPROVER]
    if people or run.state in NEVER_APPROVED:
        return people
    return list(run.approvals)


def _by(who: str, reason: str) -> str:
    return f"by {who}" + (f": {reason}" if reason else "")


def attempt_line(event: RunDeliveryFailed) -> str:
    """A failed delivery as people read it: what, which attempt, when again, and why."""
    what = f"batch {event.batch}" if event.stage == "batch" else "planning"
    of = f" of {event.attempts}" if event.attempts else ""
    return (
        f"{what}: attempt {event.attempt}{of} failed, trying again in "
        f"{event.retry_in:g}s: {event.error}"
    )
