"""What a service uses to talk to NATS: the FastStream broker, JetStream and the store."""

from __future__ import annotations

import ssl
from collections.abc import Awaitable, Callable, Sequence
from typing import Any

import nats.js.errors
from faststream.nats import NatsBroker
from faststream.nats.security import NatsSecurity, NatsUserPassword
from nats.js import JetStreamContext

from core.errors import StoreFull
from schemas.event_ids import site_wait_id
from schemas.events import Event, RunApproved, RunWaitingForSite, encode_event
from schemas.subjects import event_subject, site_plan_subject, work_subject
from schemas.work import WorkBatch
from schemas.work import encode as encode_work

from . import metrics
from .credentials import Credentials
from .jetstream import JOURNAL, WORK, ConsumerSpec
from .leaf_jetstream import jetstream
from .nats_health import NatsHealth
from .runs import Runs
from .settings import Settings, server_list
from .store import Store

STREAM_FULL = 10077  # JetStream: "maximum messages/bytes exceeded" (discard=new)


GRACEFUL_STOP = 3.0


def make_broker(
    url: str,
    credentials: Credentials | None = None,
    tls: ssl.SSLContext | None = None,
    middlewares: Sequence[Any] = (),
    health: NatsHealth | None = None,
    js_domain: str | None = None,
) -> NatsBroker:
    """A broker that reconnects forever, to the servers of `url` in turn, each tried at
    most once a second (never a busy loop while a cluster is down); without FastStream's
    own access log (our handlers log one line per outcome, with job_id and run_id), as
    the user `credentials` names (anonymous without); `middlewares`: FastStream's metrics
    and traces, when they are on (services/common/host.py). `health` hears of every lost
    and regained connection. `js_domain`: the central servers' JetStream, reached through
    a leaf node."""
    security: NatsSecurity | None = None
    if credentials is not None:
        security = NatsUserPassword(credentials.user, credentials.password, ssl_context=tls)
    elif tls is not None:
        security = NatsSecurity(ssl_context=tls)
    health = health or NatsHealth()

    async def disconnected() -> None:
        if not broker.connection.is_closed:  # closed: this service stopping, not a loss
            health.disconnected()

    async def reconnected() -> None:
        health.connected(server_of(broker))

    broker = NatsBroker(
        server_list(url),
        disconnected_cb=disconnected,
        reconnected_cb=reconnected,
        logger=None,
        max_reconnect_attempts=-1,
        reconnect_time_wait=1,
        connect_timeout=5,
        security=security,
        # On stop, wait this long for handlers in progress, not FastStream's 15 s per
        # subscriber: an unacknowledged message is delivered again, and every handler
        # here is safe to run twice.
        graceful_timeout=GRACEFUL_STOP,
        middlewares=middlewares,
        js_options={"domain": js_domain} if js_domain else None,
    )
    return broker


def server_of(broker: NatsBroker) -> str | None:
    """The URL of the server the broker is connected to now."""
    try:
        url = broker.connection.connected_url
    except Exception:  # not connected yet
        return None
    return url.geturl() if url is not None else None


class Bus:
    def __init__(
        self, broker: NatsBroker, settings: Settings, health: NatsHealth | None = None
    ) -> None:
        self.broker = broker
        self.settings = settings
        self.health = health or NatsHealth()
        """The connection's and JetStream's state (the liveness check keeps it)."""
        self._store: Store | None = None
        self._runs: Runs | None = None
        self.watched: list[tuple[Any, ConsumerSpec]] = []
        """The durable subscriptions of this process, for the liveness check."""
        self.at_stop: list[Callable[[], Awaitable[None]]] = []
        """What a service closes when it stops, once the broker has (no handler still
        running): the runner's database pools."""

    @property
    def js(self) -> JetStreamContext:
        return jetstream(self.broker.connection, self.settings.js_domain)

    @property
    def store(self) -> Store:
        if self._store is None:
            self._store = Store(self.js)
        return self._store

    @property
    def runs(self) -> Runs:
        if self._runs is None:
            self._runs = Runs(self.js)
        return self._runs

    async def publish_work(self, batch: WorkBatch) -> None:
        """Put a batch on the work queue (stored once, whoever publishes it again)."""
        subject = work_subject(batch.job_id, batch.site)
        await self._put(encode_work(batch), subject, batch.msg_id, WORK)

    async def hand_to_site(self, approved: RunApproved, site: str) -> None:
        """Put an approval in its site's queue, where it waits for one of the site's
        runners (stored once, whoever hands it over again), and say so in the journal."""
        subject = site_plan_subject(site, approved.job_id)
        await self._put(encode_event(approved), subject, site_wait_id(approved.id), WORK)
        await self.publish(
            RunWaitingForSite(
                run_id=approved.run_id,
                job_id=approved.job_id,
                id=site_wait_id(approved.id),
                site=site,
            )
        )

    async def publish_work_data(self, data: bytes, job_id: str, msg_id: str, site: str) -> None:
        """Put a batch already encoded (as the object store keeps it) on the work queue:
        its site's (empty: the central one)."""
        await self._put(data, work_subject(job_id, site), msg_id, WORK)

    async def publish(self, event: Event) -> bool:
        """Store the event in the journal; StoreFull when the journal refuses it.
        The event id is the Nats-Msg-Id, so a retried publish is stored once (and counted
        once in the metrics): False when the journal had it already."""
        stored = await self._put(encode_event(event), event_subject(event), event.id, JOURNAL)
        if stored:
            metrics.published(event)
        return stored

    async def _put(self, data: bytes, subject: str, msg_id: str, stream: str) -> bool:
        """Publish to `stream`; False when the stream already had that message id."""
        try:
            ack = await self.broker.publish(
                data, subject, headers={"Nats-Msg-Id": msg_id}, stream=stream
            )
        except nats.js.errors.ServiceUnavailableError as error:
            if error.err_code != STREAM_FULL:
                raise
            raise StoreFull(
                f"stream {stream} is full ({error.description}) and refuses new messages; "
                "raise its limit (IDSYNC_JOURNAL_MAX_BYTES, IDSYNC_JOURNAL_MAX_AGE_DAYS) or "
                "let old messages age out — nothing stored was dropped"
            ) from None
        return not getattr(ack, "duplicate", False)
