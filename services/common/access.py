"""Who may do what on NATS: the subject permissions of each service and each person.

The server enforces these, so no client can go around the workflow:

- a **person** publishes commands only under their own principal
  (`idsync.cmd.<principal>.>`: identity comes from authentication, never from a
  payload), reads events as they happen (core subscriptions to the journal's
  families) and reads what is stored through read-only JetStream requests — stream
  and consumer information, and single or batched direct gets. A person creates no
  consumer at all: the server would deliver a push consumer's messages to any
  subject its creator names, even one the creator may not publish to, so a consumer
  is a way around publish permissions. Applying a job or a connection, approving or
  denying a run: commands the workflow carries out.
- the **workflow** runs collections (`collection.*` events, their jobs' `run.requested`),
  publishes the decisions (`run.requested` for commands it accepts,
  `run.approved`, `run.awaiting-approval`, `run.denied`, `run.expired`), answers the
  commands, writes jobs and connections, and alone creates, updates and deletes
  streams, buckets and consumers — and the messages of dead letters: it retries them
  (an approval published again) and drops them (a batch dropped is `run.batch-dropped`,
  which a runner counts).
- the **scheduler** publishes `run.requested`, `collection.requested`, `schedule.skipped`
  and `schedule.missed`, and keeps the schedules bucket.
- a **runner** publishes what a run does (started, planned, batches, its end, a plan
  waiting for approval over the safety limits), the work queue, run states, plans and
  heartbeats; never an approval, a denial or an expiry.
- the **notifier** publishes `run.notify-failed` and records the mails it sent.
- every service publishes the log lines it logs while it works on a run
  (`idsync.log.<job>.<run>`), which the recorder keeps with the run's history.
- the **recorder** publishes nothing else: it reads the journal, the stored plans and the
  jobs bucket's revisions (message gets) into
  its own database and answers everyone's history queries (`idsync.cmd.*.history`).

Services read the journal as people do, by direct gets; with ordered consumers only
where nats-py has no other way (object store gets), on that stream only.
"""

from __future__ import annotations

from collections.abc import Iterable

import msgspec

from schemas.events import (
    CollectionRequested,
    Event,
    JobHistoryForgotten,
    RunAwaitingApproval,
    RunBatchApplied,
    RunCancelled,
    RunDeadLetter,
    RunDeliveryFailed,
    RunFailed,
    RunFinished,
    RunNotifyFailed,
    RunPasswordsSealed,
    RunPlanned,
    RunRecordErrors,
    RunRequested,
    RunStarted,
    RunWaitingForSite,
    ScheduleMissed,
    ScheduleSkipped,
)
from schemas.subjects import (
    ALL_LOGS,
    ALL_PREVIEWS,
    ALL_SITES,
    ALL_WORK,
    COLLECTION_EVENTS,
    JOURNAL_SUBJECTS,
    ROLE_EVENTS,
    RUN_EVENTS,
    command_subject,
    commands_of,
    events_of,
    site_preview_subject,
)

from .credentials import inbox_prefix as inbox_prefix  # where a person reads replies
from .jetstream import (
    ABSENT_BUCKET,
    APPROVALS_BUCKET,
    CLAIMS_BUCKET,
    COLLECTION_RUNS_BUCKET,
    COLLECTIONS_BUCKET,
    CONNECTIONS_BUCKET,
    DEADLETTERS,
    JOBS_BUCKET,
    JOURNAL,
    KEYS_BUCKET,
    MAIL_BUCKET,
    PLANS_BUCKET,
    PUSHED_BUCKET,
    ROLES_BUCKET,
    RUNNERS_BUCKET,
    RUNS_BUCKET,
    SCHEDULES_BUCKET,
    TEMPLATES_BUCKET,
    WATERMARKS_BUCKET,
    WORK,
)
from .service_names import ENDPOINTS, SERVICES

SERVICE_USERS = {name: f"idsync-{name}" for name in (*SERVICES, *ENDPOINTS)}
RESERVED = ("idsync", *SERVICES, *ENDPOINTS, "anyone")
"""Principals no person may take: services' names and what events say in their place."""


class Permissions(msgspec.Struct, frozen=True, kw_only=True):
    publish: list[str]
    subscribe: list[str]
    responses: bool = False
    """allow_responses: may answer the requests it receives, on their reply subjects."""


def _events(*kinds: type[Event]) -> list[str]:
    return [events_of(kind) for kind in kinds]


# Read-only JetStream: information, and messages fetched by sequence or subject.
_READ_INFO = [
    "$JS.API.INFO",
    "$JS.API.STREAM.INFO.*",
    "$JS.API.STREAM.NAMES",
    "$JS.API.STREAM.LIST",
    "$JS.API.CONSUMER.INFO.*.*",
    "$JS.API.CONSUMER.NAMES.*",
    "$JS.API.CONSUMER.LIST.*",
]
_PEOPLE_READ = (
    JOBS_BUCKET,
    CONNECTIONS_BUCKET,
    RUNS_BUCKET,
    RUNNERS_BUCKET,
    APPROVALS_BUCKET,
    # A job's watermark and the days its objects were found absent: what `idsync job
    # preview` plans with, as the run would (keys and dates, no secrets).
    WATERMARKS_BUCKET,
    ABSENT_BUCKET,
    # Records pushed to the SCIM endpoint: what `idsync job preview` plans with.
    PUSHED_BUCKET,
    SCHEDULES_BUCKET,  # each schedule's latest fire and what became of it
    COLLECTIONS_BUCKET,
    COLLECTION_RUNS_BUCKET,  # each collection run's steps
    TEMPLATES_BUCKET,
    ROLES_BUCKET,  # roles, their policies and who holds them (no secrets)
    CLAIMS_BUCKET,  # each job's run going on and the runs waiting for it
)
"""A bucket a new feature adds is read by the services (they may read every stream) and
written by the service listed below; people read it only once it is named here."""


def _reads(streams: Iterable[str], buckets: Iterable[str]) -> list[str]:
    found: list[str] = []
    for stream in streams:
        found += [f"$JS.API.DIRECT.GET.{stream}", f"$JS.API.STREAM.MSG.GET.{stream}"]
    for bucket in buckets:
        found += [f"$JS.API.DIRECT.GET.KV_{bucket}.>", f"$JS.API.STREAM.MSG.GET.KV_{bucket}"]
    return found


def _ordered_reads(*streams: str) -> list[str]:
    """Ephemeral consumers (the legacy subject without a name cannot make a durable one)."""
    return [f"$JS.API.CONSUMER.CREATE.{s}" for s in streams] + [
        f"$JS.API.CONSUMER.DELETE.{s}.*" for s in streams
    ]


def person(principal: str) -> Permissions:
    return Permissions(
        publish=[
            commands_of(principal),
            *_READ_INFO,
            *_reads((JOURNAL, DEADLETTERS, WORK), _PEOPLE_READ),
        ],
        # Replies come to the person's own inbox prefix: nobody reads another's answers.
        subscribe=[f"{inbox_prefix(principal)}.>", *JOURNAL_SUBJECTS],
    )


_SERVICE_BASE = [
    *_READ_INFO,
    "$JS.API.DIRECT.GET.>",
    "$JS.API.STREAM.MSG.GET.*",
    "$JS.API.CONSUMER.MSG.NEXT.*.*",  # pulls from the durable consumers
    "$JS.ACK.>",  # acks, naks with delay, in-progress
    "$JS.FC.>",  # flow control answers of ordered consumers
    ALL_LOGS,  # the lines each logs about a run (services/common/run_logs.py)
]
_OBJECTS = f"OBJ_{PLANS_BUCKET}"


def service(name: str) -> Permissions:
    """The permissions of one service; KeyError for a name that is none."""
    own: dict[str, list[str]] = {
        "workflow": [
            "$JS.API.>",
            "$KV.>",
            "$O.>",
            RUN_EVENTS,
            COLLECTION_EVENTS,
            ROLE_EVENTS,  # every change of a role, who made it
            *_events(JobHistoryForgotten),  # a job deleted with its history
            ALL_WORK,
            ALL_SITES,
        ],
        "scheduler": [
            *_events(RunRequested, ScheduleSkipped, ScheduleMissed, CollectionRequested),
            f"$KV.{SCHEDULES_BUCKET}.>",
        ],
        "runner": [
            *_events(
                RunStarted,
                RunPlanned,
                RunAwaitingApproval,
                RunBatchApplied,
                RunDeliveryFailed,  # a failed attempt, said at once; it is tried again
                RunRecordErrors,  # the reasons beyond what run.planned and batch-applied hold
                RunDeadLetter,
                RunFinished,
                RunFailed,
                RunCancelled,
                RunPasswordsSealed,  # generated passwords, sealed to the notifier's key
                RunWaitingForSite,  # a site's job, handed to that site's runners
            ),
            ALL_WORK,
            ALL_SITES,  # the approvals and batches of sites' jobs
            site_preview_subject("*", "*"),  # a site's job's preview, handed to its runners
            f"$KV.{RUNS_BUCKET}.>",
            f"$KV.{RUNNERS_BUCKET}.>",
            f"$KV.{WATERMARKS_BUCKET}.>",  # incremental runs: where the next one reads from
            f"$KV.{ABSENT_BUCKET}.>",  # when a full run first found an object absent
            f"$O.{PLANS_BUCKET}.>",
            f"$JS.API.STREAM.PURGE.{_OBJECTS}",  # replacing a stored plan purges its chunks
            *_ordered_reads(_OBJECTS),
        ],
        # The recorder publishes nothing: it reads the journal and stored plans, and
        # answers history queries.
        "recorder": [*_ordered_reads(_OBJECTS)],
        # The SCIM endpoint stores what other systems push and asks for their runs in their
        # name, once their token is checked against their user; each record's outcome
        # comes from the run's stored plan.
        "scim_endpoint": [
            f"$KV.{PUSHED_BUCKET}.>",
            command_subject("*", "run"),
            *_ordered_reads(_OBJECTS),
        ],
        "notifier": [
            *_events(RunNotifyFailed),
            f"$KV.{MAIL_BUCKET}.>",
            f"$KV.{KEYS_BUCKET}.>",  # its public key, which runners seal passwords to
            *_ordered_reads(_OBJECTS),
        ],
        # The portal asks in the name of the person signed in to it (or the system whose
        # token it checked): every principal's commands and history queries; it reads
        # stored plans (a run's planned changes) as the notifier does, and watches the
        # jobs and connections buckets (read once, then followed: services/portal/followed.py).
        # Previews it asks of the runners once the workflow allowed them (people may not).
        "portal": [
            command_subject("*", "*"),
            ALL_PREVIEWS,
            *_ordered_reads(_OBJECTS, f"KV_{JOBS_BUCKET}", f"KV_{CONNECTIONS_BUCKET}"),
        ],
    }
    subscribe = ["_INBOX.>"]
    if name == "workflow":
        # Every principal's commands, identity in the subject.
        subscribe.append(command_subject("*", "*"))
    if name == "recorder":
        subscribe.append(command_subject("*", "history"))  # everyone's history queries
    if name == "runner":
        subscribe.append(ALL_PREVIEWS)  # the portal's previews, planned as `job preview`
        subscribe.append(site_preview_subject("*", "*"))  # a site's runners: its jobs'
    if name in {"scim_endpoint", "portal"}:
        # A push answered once its run has ended, and the portal's live pages, follow
        # runs' events as people do.
        subscribe += JOURNAL_SUBJECTS
    return Permissions(publish=[*_SERVICE_BASE, *own[name]], subscribe=subscribe, responses=True)
