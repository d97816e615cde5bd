"""Durable pull subscribers, made one way, and kept alive.

Every service consumes its queues the same way: a durable pull consumer created with
the streams (jetstream.py), bound here with manual acks (delivery.py decides). A pull
subscriber can go silent after a reconnect — no pull request outstanding while
messages wait — so `keep_alive` checks each consumer on the server and restarts a
subscription that stays silent.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from typing import Annotated, Any

import nats.errors
import nats.js.errors
from faststream import AckPolicy
from faststream._internal.context import Context
from faststream.nats import JStream, NatsMessage, PullSub
from faststream.nats.message import NatsMessage as Message

from . import metrics
from .bus import Bus
from .jetstream import ConsumerSpec
from .logging import get_logger
from .loops import idle
from .run_logs import SERVICE

log = get_logger("idsync.consumers")


class _InLoop(Context):
    """FastStream's `Context` looked up in the event loop. FastDepends runs a field's
    lookup that is not a coroutine in a worker thread: for each message consumed, a
    thread woken and the GIL handed over and back, about 0.1 ms of CPU (half of what
    FastStream spends on a message) and, while the loop is busy, a wait of up to the
    interpreter's switch interval before the handler starts."""

    async def use(self, /, **kwargs: Any) -> dict[str, Any]:  # type: ignore[override]
        return super().use(**kwargs)


Delivered = Annotated[Message, _InLoop("message")]
"""A subscriber's message, as FastStream's `NatsMessage` hands it, looked up in the loop:
every handler of the services takes its message so."""


def subscribe_durable(
    bus: Bus,
    spec: ConsumerSpec,
    handler: Callable[[NatsMessage], Awaitable[None]],
    *,
    batch_size: int,
    title: str,
) -> None:
    """Bind `handler` to the service's durable consumer, `batch_size` messages handled at
    once: as many pullers, each fetching one message at a time.

    One puller fetching several at a time is what nats-py gets wrong: a pull request left
    behind at its fetch's timeout takes the next message, and the fetch that receives it
    waits for the rest of its batch until that request expires — up to 5 s per message,
    seen as runs approved or applied seconds after they were asked (nats-io/nats.py#986).
    Fetching one at a time returns as soon as a message comes."""

    async def as_service(msg: Delivered) -> None:
        token = SERVICE.set(spec.service)  # the lines it logs say whose work they are
        if metrics.enabled() and (msg.raw_message.metadata.num_delivered or 1) > 1:
            metrics.REDELIVERIES.labels(spec.name).inc()
        try:
            await handler(msg)
        finally:
            SERVICE.reset(token)

    for n in range(batch_size):
        subscriber: Any = bus.broker.subscriber(
            spec.subject,
            stream=JStream(spec.stream, declare=False),
            durable=spec.name,
            pull_sub=PullSub(batch_size=1, timeout=5),
            ack_policy=AckPolicy.MANUAL,
            title=title if batch_size == 1 else f"{title} ({n + 1} of {batch_size})",
        )
        subscriber(as_service)
        bus.watched.append((subscriber, spec))


PAUSE_MAX = 2.0
"""The longest a puller waits after JetStream refused a fetch, before it asks again."""


def pace(subscriber: Any) -> None:
    """Make a started subscriber's fetches wait before they fail with "JetStream
    unavailable" (503), doubling up to PAUSE_MAX seconds: a cluster without quorum, or
    electing a consumer's leader, answers a pull request at once, and FastStream's pull
    loop asks again at once — a busy loop of every puller for as long as it lasts."""
    subscription = getattr(subscriber, "subscription", None)
    if subscription is None or getattr(subscription, "paced", False):
        return
    fetch = subscription.fetch
    pause = 0.0

    async def paced(*args: Any, **kwargs: Any) -> Any:
        nonlocal pause
        try:
            messages = await fetch(*args, **kwargs)
        except (nats.js.errors.ServiceUnavailableError, nats.errors.NoRespondersError):
            pause = min(max(pause * 2, 0.1), PAUSE_MAX)
            await asyncio.sleep(pause)
            raise
        except nats.errors.TimeoutError:  # asked and answered nothing: JetStream is there
            pause = 0.0
            raise
        pause = 0.0
        return messages

    subscription.fetch = paced
    subscription.paced = True


async def keep_alive(bus: Bus, interval: float) -> None:
    """Every `interval` seconds, restart the subscriptions of a consumer that has messages
    waiting, nothing being worked on and no pull request outstanding — twice running; and
    tell `bus.health` whether JetStream answers (a cluster without quorum does not)."""
    silent_since: dict[str, float] = {}
    while True:
        await idle(interval)
        try:
            await bus.js.account_info()  # JetStream answers at all (a cluster's quorum)
        except Exception as error:  # the server is away, or JetStream: nothing to judge
            bus.health.jetstream_failed(error)
            continue
        pullers: dict[str, tuple[ConsumerSpec, list[Any]]] = {}
        for subscriber, spec in bus.watched:
            pullers.setdefault(spec.name, (spec, []))[1].append(subscriber)
        answered = True
        for spec, subscribers in pullers.values():
            try:
                info = await bus.js.consumer_info(spec.stream, spec.name)
            except Exception as error:  # a stream without its leader: judged when back
                bus.health.jetstream_failed(error)
                answered = False
                continue
            if metrics.enabled():
                metrics.PENDING.labels(spec.name).set(info.num_pending)
                metrics.IN_PROGRESS.labels(spec.name).set(info.num_ack_pending)
                metrics.REDELIVERED.labels(spec.name).set(info.num_redelivered)
            silent = info.num_pending and not info.num_waiting and not info.num_ack_pending
            if not silent:
                silent_since.pop(spec.name, None)
                continue
            since = silent_since.setdefault(spec.name, time.monotonic())
            if time.monotonic() - since < interval:
                continue
            log.warning(
                "consumer silent; restarting its subscriptions",
                consumer=spec.name,
                pending=info.num_pending,
            )
            for subscriber in subscribers:
                await subscriber.stop()
                await subscriber.start()
                pace(subscriber)
            silent_since.pop(spec.name, None)
        if answered:
            bus.health.jetstream_answered()
