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
from typing import Any

from faststream import AckPolicy
from faststream.nats import JStream, NatsMessage, PullSub

from . import metrics
from .bus import Bus
from .jetstream import ConsumerSpec
from .logging import get_logger
from .run_logs import SERVICE

log = get_logger("idsync.consumers")


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

    async def as_service(msg: NatsMessage) -> None:
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


async def keep_alive(bus: Bus, interval: float) -> None:
    """Every `interval` seconds, restart the subscriptions of a consumer that has messages
    waiting, nothing being worked on and no pull request outstanding — twice running."""
    silent_since: dict[str, float] = {}
    while True:
        await asyncio.sleep(interval)
        pullers: dict[str, tuple[ConsumerSpec, list[Any]]] = {}
        for subscriber, spec in bus.watched:
            pullers.setdefault(spec.name, (spec, []))[1].append(subscriber)
        for spec, subscribers in pullers.values():
            try:
                info = await bus.js.consumer_info(spec.stream, spec.name)
            except Exception:  # the server is away: nothing to judge until it is back
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
            silent_since.pop(spec.name, None)
