"""Events: one frozen Struct per fact, in a tagged union (`type`).

Evolution rules: new fields get defaults; a field never changes type; a tag is
never reused; events never forbid unknown fields (old readers skip new ones).
"""

from __future__ import annotations

from datetime import datetime
from typing import Literal

import msgspec

from .ids import new_event_id, utcnow
from .plan import PlanCounts, RecordError, RunStats
from .roles import Role

Trigger = Literal["manual", "schedule", "external"]


class _Event(msgspec.Struct, frozen=True, kw_only=True, tag_field="type"):
    run_id: str
    job_id: str
    id: str = msgspec.field(default_factory=new_event_id)
    """Unique per event; sent as Nats-Msg-Id so a retried publish is stored once."""
    at: datetime = msgspec.field(default_factory=utcnow)


class RunRequested(_Event, tag="run.requested", frozen=True):
    requested_by: str
    trigger: Trigger = "manual"
    keys: list[str] | None = None
    """Only these objects (by key value); such a run never acts on absence."""
    changed_only: bool = False
    """Only the source records changed since the job's last run; never acts on absence."""
    collection: str | None = None
    """The collection run this run is a step of (its `run_id`), if any."""


class RunApproved(_Event, tag="run.approved", frozen=True):
    approved_by: str
    reason: str = ""
    requested_by: str = ""
    trigger: Trigger = "manual"
    keys: list[str] | None = None
    """Copied from the request: the runner needs nothing else to start."""
    changed_only: bool = False
    plan_hash: str | None = None
    """Set when this approves a plan that waited for approval: only that plan may run."""


class RunQueued(_Event, tag="run.queued", frozen=True):
    """Another run of the job had not ended when this one was asked for: it waits, and
    the workflow lets it through once the runs before it have ended (a job never runs
    twice at once, whatever asked: services/workflow/claims.py). It plans then, against
    what the runs before it left."""

    behind: str
    """The run of the job going on when this one was asked for."""
    behind_state: str = ""
    """That run's state then, in words ("running", "awaiting approval", …)."""
    requested_by: str = ""
    trigger: Trigger = "manual"
    keys: list[str] | None = None


class RunWaitingForSite(_Event, tag="run.waiting-for-site", frozen=True):
    """The run's job lives in a site: its approval waits in that site's queue until
    one of the site's runners takes it (none running: it waits, it does not fail)."""

    site: str


class RunAwaitingApproval(_Event, tag="run.awaiting-approval", frozen=True):
    reason: str
    plan_hash: str | None = None
    counts: PlanCounts | None = None
    """The plan's summary, for the approver."""
    requested_by: str = ""
    trigger: Trigger = "manual"
    keys: list[str] | None = None
    approvers: list[str] = msgspec.field(default_factory=list)
    """Who may approve (principals, groups resolved); empty: anyone but the requester."""
    expires_at: datetime | None = None
    """When the workflow ends the run `run.expired` if nobody has answered."""


class RunStarted(_Event, tag="run.started", frozen=True):
    runner: str
    attempt: int = 1
    reason: str = ""
    """Why this attempt: e.g. the previous runner stopped while planning."""


class RunPlanned(_Event, tag="run.planned", frozen=True):
    plan_hash: str
    counts: PlanCounts
    source_records: int
    destination_records: int
    batches: int
    errors: list[RecordError] = msgspec.field(default_factory=list)
    """Records that planning found wrong (a transformation failed, a reference does not
    resolve): the first ones; `run.record-errors` events before this one hold the rest."""
    errors_total: int = 0
    """How many record errors the plan has in all (0 from runners older than this field)."""
    incremental: bool = False
    """Only source records changed since `since` were read: destination-only objects were
    neither acted on nor counted."""
    since: str | None = None
    """The watermark an incremental run read from (None: none was kept yet, all was read)."""
    full_because: str | None = None
    """A run asked for incremental that is a full run after all: why its source read every
    record instead of the changes (its change feed could not be used, e.g. "the delta link
    had expired"); absence was acted on as in any full run."""
    warnings: list[str] = msgspec.field(default_factory=list)
    """The plan's warnings as `idsync job preview` says them (those about single records
    once per kind, core/run_texts.py `grouped_warnings`): the first ones."""
    warnings_total: int = 0
    """How many warnings the plan has in all, as grouped (0 from runners older than this
    field): more than `warnings` holds when the plan has many."""
    absence_withheld: bool = False
    """The plan acts on no absent object of some type: source records it cannot match
    (values but an empty key, or a key that cannot be read) may be those objects. Its
    first warnings say which; a mail with `trigger = "errors"` is sent for it."""


class RunBatchApplied(_Event, tag="run.batch-applied", frozen=True):
    plan_hash: str
    batch: int
    batches: int
    changes: int
    stats: RunStats
    runner: str = ""
    """The runner that applied the batch."""
    attempt: int = 1
    """The delivery of the batch that applied it (more than 1 after a failure or a crash)."""
    errors: list[RecordError] = msgspec.field(default_factory=list)
    """The batch's failed changes: the first ones; `run.record-errors` events before this
    one hold the rest."""
    errors_total: int = 0
    """How many of the batch's changes failed in all (0 from runners older than this field)."""


class RunRecordErrors(_Event, tag="run.record-errors", frozen=True):
    """More reasons of failed records than `run.planned` or `run.batch-applied` holds:
    published just before that event, in parts, so that every reason is kept with the run."""

    plan_hash: str
    batch: int | None = None
    """The batch whose changes failed; None: the plan's record errors."""
    part: int = 1
    errors: list[RecordError] = msgspec.field(default_factory=list)


class RunDeliveryFailed(_Event, tag="run.delivery-failed", frozen=True):
    """A delivery of this run's approval (planning) or of one of its batches failed with an
    error that may pass (a locked database, a server away): it is tried again after
    `retry_in` seconds. Said at once, so the run shows why it is not moving; an error no
    retry can mend ends the run `run.failed` instead."""

    stage: str
    """"plan" (the approval) or "batch"."""
    error: str
    batch: int | None = None
    attempt: int = 1
    """The delivery that failed, from 1."""
    attempts: int = 0
    """The deliveries allowed (IDSYNC_MAX_DELIVER): when the last fails, a dead letter."""
    retry_in: float = 0.0
    """Seconds until the next delivery."""


class RunDeadLetter(_Event, tag="run.dead-letter", frozen=True):
    """A message of this run was given up on after its last delivery: the run waits until
    `idsync deadletter retry` brings it back or `idsync deadletter drop` abandons it."""

    stage: str
    """"plan" (the approval could not be planned) or "batch"."""
    error: str
    batch: int | None = None
    changes: int = 0


class RunBatchDropped(_Event, tag="run.batch-dropped", frozen=True):
    """A person dropped a batch of this run that was a dead letter (`idsync deadletter
    drop`): its records count as failed and the run goes on. The workflow, which answers
    the command, says so; a runner counts the batch and moves the run on."""

    plan_hash: str
    batch: int
    changes: int
    by: str


class RunFinished(_Event, tag="run.finished", frozen=True):
    stats: RunStats
    plan_hash: str
    seconds: float
    with_errors: bool = False
    staged: bool = False
    """The job is in staging: the run planned and reported, and wrote nothing."""


class RunFailed(_Event, tag="run.failed", frozen=True):
    reason: str
    stats: RunStats = msgspec.field(default_factory=RunStats)


class RunCancelled(_Event, tag="run.cancelled", frozen=True):
    by: str
    reason: str = ""
    stats: RunStats = msgspec.field(default_factory=RunStats)


class RunDenied(_Event, tag="run.denied", frozen=True):
    by: str
    reason: str = ""


class RunExpired(_Event, tag="run.expired", frozen=True):
    reason: str = ""


class RunNotifyFailed(_Event, tag="run.notify-failed", frozen=True):
    """A mail about the run could not be sent: refused at once (a value that cannot go
    into a mail, an address the server refuses) or after the last retry."""

    reason: str = ""
    about: str = ""
    """The tag of the event the mail was for, e.g. "run.finished"."""
    recipients: list[str] = msgspec.field(default_factory=list)
    message_id: str = ""


class SealedPassword(msgspec.Struct, frozen=True, kw_only=True):
    """One generated password, sealed to the notifier's public key (services/common/sealing.py)."""

    key: str
    """The record's key, as in the plan."""
    field: str
    sealed: str
    """Base64 of a sealed box whose plaintext also names the run, job, key and field."""
    to: str | None = None
    """The record's own recipient (its manager, say), when the job names a field for it."""


class RunPasswordsSealed(_Event, tag="run.passwords-sealed", frozen=True):
    """Passwords the runner generated for created records, for the notifier alone to mail
    to the job's `password` recipients; never in clear in an event, a log or a report."""

    passwords: list[SealedPassword] = msgspec.field(default_factory=list)


class ScheduleSkipped(_Event, tag="schedule.skipped", frozen=True):
    """A schedule fired while a run of its job had not ended: no run was asked for (a job
    never runs twice at once). `run_id` is the run the fire would have started."""

    schedule: str
    """The schedule's name within the job."""
    fire_at: datetime
    busy_run: str
    """The run that had not ended."""
    busy_state: str = ""
    """That run's state then, in words ("running", "awaiting approval", …)."""


class ScheduleMissed(_Event, tag="schedule.missed", frozen=True):
    """Fire times passed while no scheduler ran: the job runs once for all of them (the
    run `run_id`, of the latest fire time), not once for each."""

    schedule: str
    missed: list[datetime] = msgspec.field(default_factory=list)
    """The fire times that passed, oldest first (the first 50)."""
    missed_total: int = 0
    """How many in all (counted up to 10,000)."""


class StepOutcome(msgspec.Struct, frozen=True, kw_only=True):
    """One job of a collection run, as it stands."""

    job: str
    run_id: str = ""
    """Its run (empty: it has not started)."""
    outcome: str = "pending"
    """pending, running, or how its run ended (finished, finished with errors, failed,
    cancelled, denied, expired); skipped when the collection was aborted before it."""
    on_failure: str = "abort"
    stats: RunStats | None = None
    """What its run did, as its end said (None: it has not ended, or ended writing
    nothing it could count: denied, expired, skipped, or cancelled with its collection)."""


class _CollectionEvent(_Event, frozen=True):
    """About a collection run: `run_id` is the collection run's id, and `job_id` holds
    the collection's id (the subject's last token: idsync.collection.<tag>.<collection>)."""


class CollectionRequested(_CollectionEvent, tag="collection.requested", frozen=True):
    requested_by: str
    trigger: Trigger = "manual"
    steps: list[StepOutcome] = msgspec.field(default_factory=list)
    """The jobs as the collection listed them when asked for."""


class CollectionStepStarted(_CollectionEvent, tag="collection.step-started", frozen=True):
    step: int
    """From 1."""
    steps: int
    job: str
    step_run: str


class CollectionStepEnded(_CollectionEvent, tag="collection.step-ended", frozen=True):
    step: int
    steps: int
    job: str
    step_run: str
    outcome: str


class CollectionEnded(_CollectionEvent, tag="collection.ended", frozen=True):
    outcome: str
    """finished (every job finished), finished with failures (a job failed and the
    collection went on), aborted (a job failed and the rest did not run), cancelled."""
    steps: list[StepOutcome] = msgspec.field(default_factory=list)
    by: str = ""
    """Who cancelled it."""


class RoleChanged(_Event, frozen=True, tag="role.changed"):
    """A role defined, restored as it ships, removed, granted or revoked, by whom: on
    idsync.role.changed.<role> (`job_id` holds the role's id, `run_id` is empty)."""

    change: str
    """defined, restored, removed, granted, revoked."""
    by: str
    grantee: str = ""
    """Whom a grant or revoke is about."""
    definition: Role | None = None
    """The role as defined (defined only)."""


class JobHistoryForgotten(_Event, frozen=True, tag="job.history-forgotten"):
    """A job deleted with its history (`idsync job delete --forget-history`): its events
    before this one were purged from the journal, and whoever keeps its history (the
    recorder) forgets its runs too. On idsync.job.history-forgotten.<job> (`run_id` is
    empty); published once the purge is done, so every event of the job's runs that the
    journal still holds comes after it."""

    by: str
    runs: int = 0
    """How many runs the journal held of the job."""


Event = (
    RunRequested
    | RunApproved
    | RunAwaitingApproval
    | RunStarted
    | RunPlanned
    | RunBatchApplied
    | RunDeliveryFailed
    | RunRecordErrors
    | RunDeadLetter
    | RunBatchDropped
    | RunWaitingForSite
    | RunQueued
    | RunFinished
    | RunFailed
    | RunCancelled
    | RunDenied
    | RunExpired
    | RunNotifyFailed
    | RunPasswordsSealed
    | ScheduleSkipped
    | ScheduleMissed
    | CollectionRequested
    | CollectionStepStarted
    | CollectionStepEnded
    | CollectionEnded
    | RoleChanged
    | JobHistoryForgotten
)

END_STATES: tuple[type[_Event], ...] = (RunFinished, RunFailed, RunCancelled, RunDenied, RunExpired)

_encoder = msgspec.json.Encoder()
_decoder = msgspec.json.Decoder(Event)


def tag_of(event: Event | type[Event]) -> str:
    return str(event.__struct_config__.tag)


def encode_event(event: Event) -> bytes:
    return _encoder.encode(event)


def decode_event(data: bytes) -> Event:
    """Raises msgspec.DecodeError / ValidationError for what is not an event."""
    event: Event = _decoder.decode(data)
    return event


def is_end(event: Event) -> bool:
    return isinstance(event, END_STATES)
