"""Streams, consumers and buckets: created explicitly at start, never grown by accident.

Only the services create or change them (`ensure_infrastructure`, at start, with the
deployment's settings); a command never does, so one run from a shell with other
settings cannot change a deployment's limits or replicas. A command that finds them
missing says the services have not started there (`not_set_up`).

Streams never overlap: the journal holds the event families, the work queue the
change batches, and commands are in no stream (a stream would answer the request
itself). Every stream discards *new* messages when full, so a full store refuses a
publish — an error someone sees — instead of silently dropping the oldest; but the
runs' log lines, which drop their oldest: logging never stops a run.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable

import nats.errors
import nats.js.errors
from nats.js import JetStreamContext
from nats.js.api import (
    AckPolicy,
    ConsumerConfig,
    DeliverPolicy,
    DiscardPolicy,
    KeyValueConfig,
    ObjectStoreConfig,
    RetentionPolicy,
    StorageType,
    StreamConfig,
)

from core.errors import IdsyncError, Unreachable
from schemas.events import (
    CollectionEnded,
    CollectionRequested,
    RunApproved,
    RunAwaitingApproval,
    RunBatchDropped,
    RunRequested,
)
from schemas.subjects import (
    ALL_LOGS,
    ALL_WORK,
    JOB_EVENTS,
    JOURNAL_SUBJECTS,
    LOG_SUBJECTS,
    ROLE_EVENTS,
    RUN_EVENTS,
    WORK_SUBJECTS,
    command_subject,
    events_of,
    site_plan_subject,
    site_work,
)

from .logging import get_logger
from .settings import Settings

JOURNAL = "IDSYNC_JOURNAL"
WORK = "IDSYNC_WORK"
DEADLETTERS = "IDSYNC_DEADLETTERS"
LOGS = "IDSYNC_LOGS"
"""Runs' log lines (services/common/run_logs.py), kept until the recorder has them."""
ADVISORIES = ("MAX_DELIVERIES", "MSG_TERMINATED")
JOBS_BUCKET = "idsync_jobs"
CONNECTIONS_BUCKET = "idsync_connections"
RUNS_BUCKET = "idsync_runs"
MAIL_BUCKET = "idsync_mail_sent"
"""The Message-IDs of mails sent, so an event delivered again is not mailed twice."""
KEYS_BUCKET = "idsync_keys"
"""Public keys: the notifier's, which runners seal generated passwords to."""
APPROVALS_BUCKET = "idsync_approvals"
"""The runs waiting for someone's approval (services/workflow/approvals.py), one entry each."""
WATERMARKS_BUCKET = "idsync_watermarks"
"""Per job: where its next incremental run reads from, when its last full run was."""
ABSENT_BUCKET = "idsync_absent"
"""Per job and object: when a full run first found it absent (disable now, delete later)."""
PUSHED_BUCKET = "idsync_pushed"
"""Records other systems pushed to the SCIM endpoint, per connection and key (pushed.py)."""
SCHEDULES_BUCKET = "idsync_schedules"
"""Per job and schedule: the latest fire time handled, and what became of it."""
COLLECTIONS_BUCKET = "idsync_collections"
"""Job collections: their definitions."""
COLLECTION_RUNS_BUCKET = "idsync_collection_runs"
"""Each collection run: its steps and where it stands (services/common/collection_runs.py)."""
TEMPLATES_BUCKET = "idsync_templates"
"""Templates people saved (the shipped ones are core/ad_templates.py)."""
ROLES_BUCKET = "idsync_roles"
"""Roles: their definitions, who holds them, who changed them (services/common/roles.py)."""
CLAIMS_BUCKET = "idsync_claims"
"""Per job: its one run let through, and the runs asked for meanwhile that wait for it,
by their ids (services/common/claims.py; kept by the workflow)."""
BUCKETS = (
    JOBS_BUCKET,
    CONNECTIONS_BUCKET,
    RUNS_BUCKET,
    MAIL_BUCKET,
    KEYS_BUCKET,
    APPROVALS_BUCKET,
    WATERMARKS_BUCKET,
    ABSENT_BUCKET,
    SCHEDULES_BUCKET,
    COLLECTIONS_BUCKET,
    COLLECTION_RUNS_BUCKET,
    TEMPLATES_BUCKET,
    ROLES_BUCKET,
    CLAIMS_BUCKET,
)
RUNNERS_BUCKET = "idsync_runners"
"""Each runner's latest heartbeat and current work (entries expire after an hour)."""
PLANS_BUCKET = "idsync_plans"
"""Object store: each run's whole plan, batched by phase, for every runner to apply."""
DAY = 86_400.0

log = get_logger("idsync.jetstream")


class ConsumerSpec:
    """A service's durable consumer: its name, stream, filter and how much it takes at once."""

    def __init__(
        self,
        name: str,
        stream: str,
        subject: str,
        max_ack_pending: int,
        deliver: DeliverPolicy = DeliverPolicy.NEW,
    ) -> None:
        self.name = name
        self.stream = stream
        self.subject = subject
        self.max_ack_pending = max_ack_pending
        self.deliver = deliver
        self.service = name.split("-")[0]
        """The service that consumes it: every consumer's name starts with it."""


# Created with the streams, so each service's queue keeps what is published for it
# even while that service is not running.
RUNNER = ConsumerSpec("runner", JOURNAL, events_of(RunApproved), max_ack_pending=4)
WORKFLOW = ConsumerSpec("workflow", JOURNAL, events_of(RunRequested), max_ack_pending=64)
# The workflow keeps the list of runs waiting for approval, plans over limits included.
WAITS = ConsumerSpec("workflow-waits", JOURNAL, events_of(RunAwaitingApproval), max_ack_pending=64)
NOTIFIER = ConsumerSpec("notifier", JOURNAL, RUN_EVENTS, max_ack_pending=64)
# Every runner pulls from this one consumer, so the batches of a run are shared out.
WORKER = ConsumerSpec("runner-work", WORK, ALL_WORK, max_ack_pending=64, deliver=DeliverPolicy.ALL)
# Batches someone dropped as dead letters: a runner counts each and moves its run on.
DROPS = ConsumerSpec("runner-drops", JOURNAL, events_of(RunBatchDropped), max_ack_pending=16)
# The history: every run event from the journal's first (a recorder added later builds
# the history of what the journal holds), one at a time, in order.
RECORDER = ConsumerSpec(
    "recorder", JOURNAL, RUN_EVENTS, max_ack_pending=1, deliver=DeliverPolicy.ALL
)
# Every change of a role, kept by the recorder for as long as its database (audit).
RECORDER_ROLES = ConsumerSpec(
    "recorder-roles", JOURNAL, ROLE_EVENTS, max_ack_pending=1, deliver=DeliverPolicy.ALL
)
# Jobs deleted with their history: the recorder forgets their runs (in journal order
# with the runs' own events: services/recorder/forget.py).
RECORDER_JOBS = ConsumerSpec(
    "recorder-jobs", JOURNAL, JOB_EVENTS, max_ack_pending=1, deliver=DeliverPolicy.ALL
)
# Collections: the workflow starts each collection run asked for, and moves one on when
# the run of its current job ends (it reads every run event, and keeps the ends of steps).
COLLECTIONS = ConsumerSpec(
    "workflow-collections", JOURNAL, events_of(CollectionRequested), max_ack_pending=16
)
STEPS = ConsumerSpec("workflow-steps", JOURNAL, RUN_EVENTS, max_ack_pending=64)
# A collection run's summary mail.
NOTIFIER_COLLECTIONS = ConsumerSpec(
    "notifier-collections", JOURNAL, events_of(CollectionEnded), max_ack_pending=16
)
# Runs' log lines, into the history with their runs.
RECORDER_LOGS = ConsumerSpec(
    "recorder-logs", LOGS, ALL_LOGS, max_ack_pending=1, deliver=DeliverPolicy.ALL
)
CONSUMERS = (
    RUNNER,
    WORKFLOW,
    WAITS,
    NOTIFIER,
    WORKER,
    DROPS,
    COLLECTIONS,
    STEPS,
    NOTIFIER_COLLECTIONS,
    RECORDER,
    RECORDER_LOGS,
    RECORDER_ROLES,
    RECORDER_JOBS,
)


def site_consumers(site: str) -> tuple[ConsumerSpec, ConsumerSpec]:
    """A site's two queues on the work stream, shared by the site's runners alone: the
    approvals of its jobs' runs (to plan) and their change batches (to apply). From the
    first message kept: what was handed to the site before any of its runners started
    waits for them."""
    return (
        ConsumerSpec(
            f"runner-site-{site}",
            WORK,
            site_plan_subject(site),
            max_ack_pending=4,
            deliver=DeliverPolicy.ALL,
        ),
        ConsumerSpec(
            f"runner-site-{site}-work",
            WORK,
            site_work(site),
            max_ack_pending=64,
            deliver=DeliverPolicy.ALL,
        ),
    )


async def ensure_site(js: JetStreamContext, settings: Settings, site: str) -> None:
    """Create or update a site's queues: by the workflow when a connection names the site
    (and at its start, for every site the connections name), or by the site's runner on a
    server without users."""
    for spec in site_consumers(site):
        await js.add_consumer(spec.stream, durable_consumer(spec, settings))


async def wait_for_site(
    js: JetStreamContext, site: str, every: float = 0.5, patience: float = 10.0
) -> None:
    """Until the site's queues exist (a runner without the right to make them)."""
    waited = 0.0
    while True:
        try:
            for spec in site_consumers(site):
                await js.consumer_info(spec.stream, spec.name)
            return
        except nats.js.errors.NotFoundError:
            if waited == patience:
                log.warning(
                    f"the queues of site {site} do not exist yet: the workflow makes them "
                    f"when a connection naming site {site} is applied",
                    site=site,
                )
            await asyncio.sleep(every)
            waited += every


def stream_configs(settings: Settings) -> list[StreamConfig]:
    return [
        StreamConfig(
            name=JOURNAL,
            description="Every idsync event: run requests, approvals, plans, batches, outcomes",
            subjects=JOURNAL_SUBJECTS,
            retention=RetentionPolicy.LIMITS,
            discard=DiscardPolicy.NEW,
            max_bytes=settings.journal_max_bytes,
            max_age=settings.journal_max_age_days * DAY,
            storage=StorageType.FILE,
            num_replicas=settings.replicas,
            duplicate_window=120.0,
            # People read the journal by direct gets: no consumer of theirs on the server.
            allow_direct=True,
        ),
        StreamConfig(
            name=WORK,
            description="Change batches waiting to be applied; sites' runs and batches",
            subjects=WORK_SUBJECTS,
            retention=RetentionPolicy.WORK_QUEUE,
            discard=DiscardPolicy.NEW,
            max_bytes=settings.work_max_bytes,
            storage=StorageType.FILE,
            num_replicas=settings.replicas,
            duplicate_window=120.0,
        ),
        StreamConfig(
            name=DEADLETTERS,
            description="Messages given up on: the server's advisories, kept until handled",
            # The server announces an exhausted or terminated message once, as a core
            # message: lost unless a stream keeps it. The message itself stays where it was.
            subjects=[
                f"$JS.EVENT.ADVISORY.CONSUMER.{kind}.{stream}.*"
                for kind in ADVISORIES
                for stream in (JOURNAL, WORK)
            ],
            retention=RetentionPolicy.LIMITS,
            discard=DiscardPolicy.NEW,
            max_bytes=settings.journal_max_bytes,
            storage=StorageType.FILE,
            num_replicas=settings.replicas,
        ),
        StreamConfig(
            name=LOGS,
            description="Runs' log lines, in batches, until the recorder keeps them",
            subjects=LOG_SUBJECTS,
            retention=RetentionPolicy.LIMITS,
            # Unlike events, a log line is worth less than the work: a full stream drops
            # its oldest batches rather than refuse a service's next one.
            discard=DiscardPolicy.OLD,
            max_bytes=settings.log_max_bytes,
            max_age=settings.journal_max_age_days * DAY,
            storage=StorageType.FILE,
            num_replicas=settings.replicas,
            duplicate_window=120.0,
        ),
    ]


PATIENCE = 60.0
"""Seconds a service starting gives JetStream to answer its set-up (a cluster just
formed is still electing its streams' leaders, and may time requests out meanwhile)."""


async def patiently(
    step: Callable[[], Awaitable[None]],
    what: str,
    patience: float = PATIENCE,
    pause: float = 1.0,
) -> None:
    """Run `step` — idempotent set-up — again, `pause` seconds apart, while JetStream does not
    answer in time, says it is not available yet, or a cluster's servers are not all known
    to its leader yet; after `patience` seconds, its error."""
    deadline = asyncio.get_running_loop().time() + patience
    while True:
        try:
            await step()
            return
        except (nats.errors.TimeoutError, nats.js.errors.APIError) as error:
            if not _passing(error) or asyncio.get_running_loop().time() >= deadline:
                raise
            log.warning(
                f"JetStream did not answer {what} in time (a cluster electing its leaders?); "
                "trying again",
                error=str(error) or type(error).__name__,
            )
            await asyncio.sleep(pause)


NO_PEERS_YET = 10005
"""JetStream's "no suitable peers for placement": a cluster whose servers have not all
told its leader they are up asked for replicated storage."""


def _passing(error: Exception) -> bool:
    """A JetStream set-up error that a moment can cure: no answer in time, JetStream not
    available yet, or not all of a cluster's servers known yet."""
    if isinstance(error, nats.errors.TimeoutError | nats.js.errors.ServiceUnavailableError):
        return True
    return isinstance(error, nats.js.errors.APIError) and error.err_code == NO_PEERS_YET


async def ensure_infrastructure(js: JetStreamContext, settings: Settings) -> None:
    """Create or update every stream and bucket; check that commands stay out of streams."""
    for config in stream_configs(settings):
        try:
            await js.add_stream(config)
        except nats.js.errors.BadRequestError as error:
            if _passing(error):
                raise  # not made: no peers yet (`patiently` asks again), not made before
            await js.update_stream(config)
    for bucket in BUCKETS:
        try:
            await js.key_value(bucket)
        except nats.js.errors.BucketNotFoundError:
            await js.create_key_value(
                KeyValueConfig(
                    bucket=bucket, history=5, storage=StorageType.FILE, replicas=settings.replicas
                )
            )
    try:
        await js.key_value(PUSHED_BUCKET)
    except nats.js.errors.BucketNotFoundError:
        # Read whole by batched direct gets (services/common/pushed.py): the latest only.
        await js.create_key_value(
            KeyValueConfig(
                bucket=PUSHED_BUCKET,
                history=1,
                direct=True,
                storage=StorageType.FILE,
                replicas=settings.replicas,
            )
        )
    try:
        await js.object_store(PLANS_BUCKET)
    except nats.js.errors.BucketNotFoundError:
        await js.create_object_store(
            PLANS_BUCKET,
            ObjectStoreConfig(
                storage=StorageType.FILE,
                ttl=settings.journal_max_age_days * DAY,
                replicas=settings.replicas,
            ),
        )
    try:
        await js.key_value(RUNNERS_BUCKET)
    except nats.js.errors.BucketNotFoundError:
        await js.create_key_value(
            KeyValueConfig(
                bucket=RUNNERS_BUCKET,
                history=1,
                ttl=3600,
                storage=StorageType.FILE,
                replicas=settings.replicas,
            )
        )
    for spec in CONSUMERS:
        await js.add_consumer(spec.stream, durable_consumer(spec, settings))
    probe = command_subject("anyone", "run")
    try:
        stream = await js.find_stream_name_by_subject(probe)
    except nats.js.errors.NotFoundError:
        return
    raise IdsyncError(
        f"stream {stream} captures command subjects ({probe}); commands must be in no stream, "
        "or their requesters get a stream's acknowledgement instead of an answer"
    )


def not_set_up(what: str) -> Unreachable:
    """What a command says when a stream or bucket it needs is missing."""
    return Unreachable(
        f"{what} does not exist on this NATS server: the idsync services have not started "
        "here, and only they create streams and buckets; start them with `idsync up` (or "
        "`idsync serve workflow`) against this server, then try again"
    )


async def wait_for_infrastructure(
    js: JetStreamContext, every: float = 0.5, patience: float = 10.0
) -> None:
    """Until the workflow service has created every stream, bucket and consumer (it
    creates the consumers last): what a service without that permission does at start.
    Services started together (`idsync up`) wait a moment for it: that is no warning;
    one still waiting after `patience` seconds is (the workflow is not running)."""
    told = False
    waited = 0.0
    while True:
        try:
            await js.stream_info(f"KV_{APPROVALS_BUCKET}")
            for spec in CONSUMERS:
                await js.consumer_info(spec.stream, spec.name)
            return
        except nats.js.errors.NotFoundError:
            if not told and waited >= patience:
                log.warning(
                    "still waiting for the workflow service to create streams and consumers: "
                    "is it running? (`idsync serve workflow`)",
                    waited=waited,
                )
                told = True
            await asyncio.sleep(every)
            waited += every


def durable_consumer(spec: ConsumerSpec, settings: Settings) -> ConsumerConfig:
    """A durable pull consumer with explicit acks and bounded deliveries. Adding it again
    updates it: an existing durable otherwise keeps its old settings."""
    return ConsumerConfig(
        durable_name=spec.name,
        filter_subject=spec.subject,
        ack_policy=AckPolicy.EXPLICIT,
        ack_wait=settings.ack_wait,
        max_deliver=settings.max_deliver,
        max_ack_pending=spec.max_ack_pending,
        deliver_policy=spec.deliver,
        num_replicas=settings.replicas,
    )
