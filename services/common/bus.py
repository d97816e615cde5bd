"""What a service uses to talk to NATS: the FastStream broker, JetStream and the store."""

from __future__ import annotations

from typing import Any

from faststream.nats import NatsBroker
from nats.js import JetStreamContext

from schemas.events import Event, encode_event
from schemas.subjects import event_subject, work_subject
from schemas.work import WorkBatch
from schemas.work import encode as encode_work

from .jetstream import JOURNAL, WORK, ConsumerSpec
from .runs import Runs
from .settings import Settings
from .store import Store


def make_broker(url: str) -> NatsBroker:
    """A broker that reconnects forever, without FastStream's own access log
    (our handlers log one line per outcome, with job_id and run_id)."""
    return NatsBroker(
        url,
        logger=None,
        max_reconnect_attempts=-1,
        reconnect_time_wait=1,
        connect_timeout=5,
    )


class Bus:
    def __init__(self, broker: NatsBroker, settings: Settings) -> None:
        self.broker = broker
        self.settings = settings
        self._store: Store | None = None
        self._runs: Runs | None = None
        self.watched: list[tuple[Any, ConsumerSpec]] = []
        """The durable subscriptions of this process, for the liveness check."""

    @property
    def js(self) -> JetStreamContext:
        return self.broker.connection.jetstream()

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
        await self.broker.publish(
            encode_work(batch),
            work_subject(batch.job_id),
            headers={"Nats-Msg-Id": batch.msg_id},
            stream=WORK,
        )

    async def publish(self, event: Event) -> None:
        """Store the event in the journal; raises when the stream refuses it (e.g. full).
        The event id is the Nats-Msg-Id, so a retried publish is stored once."""
        await self.broker.publish(
            encode_event(event),
            event_subject(event),
            headers={"Nats-Msg-Id": event.id},
            stream=JOURNAL,
        )
