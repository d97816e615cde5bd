"""Deliberate acknowledgement, the one way every service consumes its queues.

FastStream's NATS default terminates a message whose handler raises — a passing
database lock would silently drop a run. Here: ack on success; on an error, tell
`on_retry` at once (the run says why it is not moving) and nak *with a delay* that
doubles with each delivery (a plain nak comes back at once); term only what can never
succeed (a message that cannot be decoded), and say so; on the last allowed delivery,
leave the message unacknowledged to the server, which announces it as a dead letter
(announce.py: now, not when this service next pulls), then hand the error to
`on_give_up` (the run says it waits), so a dead letter is listed by the time the run
says so; `idsync deadletter retry` brings it back. Long handlers keep the message
with in-progress acks. Errors no retry can mend (errors.PERMANENT) are the handler's
to catch: the runner ends the run at once.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable
from typing import NamedTuple, Protocol, TypeVar

import msgspec
import structlog
from faststream.nats import NatsMessage

from schemas.events import Event, decode_event

from .announce import announce_given_up
from .bus import Bus
from .logging import get_logger


class AboutARun(Protocol):
    @property
    def run_id(self) -> str: ...
    @property
    def job_id(self) -> str: ...


class Failure(NamedTuple):
    """A delivery that failed and will be retried."""

    error: Exception
    attempt: int
    """The delivery that failed, from 1."""
    attempts: int
    """The deliveries allowed."""
    retry_in: float
    """Seconds until the next delivery."""
    copy: int
    """The message's sequence in its stream: a dead letter retried is a new copy."""


M = TypeVar("M", bound=AboutARun)
Handler = Callable[[M, int], Awaitable[None]]
GiveUp = Callable[[M, BaseException], Awaitable[None]]
Retrying = Callable[[M, Failure], Awaitable[None]]

log = get_logger("idsync.delivery")


def deliberately(
    bus: Bus,
    handle: Handler[Event],
    on_give_up: GiveUp[Event] | None = None,
    on_retry: Retrying[Event] | None = None,
) -> Callable[[NatsMessage], Awaitable[None]]:
    """Wrap `handle(event, attempt)` for a durable pull subscriber of events."""
    return consume(bus, decode_event, handle, on_give_up, on_retry)


def consume(
    bus: Bus,
    decode: Callable[[bytes], M],
    handle: Handler[M],
    on_give_up: GiveUp[M] | None = None,
    on_retry: Retrying[M] | None = None,
    recall: Callable[[str], M | None] | None = None,
) -> Callable[[NatsMessage], Awaitable[None]]:
    """Wrap `handle(message, attempt)` for a durable pull subscriber with manual acks.
    `recall`, given the message's id (its Nats-Msg-Id), may give the message this process
    published itself, still in memory: then its body is not decoded again."""
    settings = bus.settings

    def decoded(msg: NatsMessage) -> M:
        if recall is not None and (kept := recall(msg.headers.get("Nats-Msg-Id", ""))):
            return kept
        return decode(msg.body)

    async def on_message(msg: NatsMessage) -> None:
        try:
            message = decoded(msg)
        except (msgspec.DecodeError, msgspec.ValidationError) as error:
            log.error(
                "undecodable message terminated", subject=msg.raw_message.subject, error=str(error)
            )
            await msg.reject()
            return
        attempt = msg.raw_message.metadata.num_delivered or 1
        with structlog.contextvars.bound_contextvars(job_id=message.job_id, run_id=message.run_id):
            keep_alive = asyncio.create_task(_keep_alive(msg, settings.ack_wait))
            try:
                await handle(message, attempt)
            except Exception as error:
                if attempt >= settings.max_deliver:
                    await _give_up(bus, msg, message, attempt, error, on_give_up)
                else:
                    await _retry(bus, msg, message, attempt, error, on_retry)
            else:
                await msg.ack()
            finally:
                keep_alive.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await keep_alive

    return on_message


async def _give_up(
    bus: Bus,
    msg: NatsMessage,
    message: M,
    attempt: int,
    error: Exception,
    on_give_up: GiveUp[M] | None,
) -> None:
    log.error(
        "giving up: the message is now a dead letter",
        message=type(message).__name__,
        attempt=attempt,
        error=str(error),
    )
    # Not acked: the server, out of deliveries, announces it (a dead letter, kept by the
    # dead-letter stream) and the message stays in its stream for a retry.
    await announce_given_up(bus.broker.connection, msg.raw_message)
    if on_give_up is not None:
        await on_give_up(message, error)


async def _retry(
    bus: Bus,
    msg: NatsMessage,
    message: M,
    attempt: int,
    error: Exception,
    on_retry: Retrying[M] | None,
) -> None:
    delay = bus.settings.retry_delay_for(attempt)
    log.warning(
        "failed, will retry",
        message=type(message).__name__,
        attempt=attempt,
        retry_in=delay,
        error=str(error) or type(error).__name__,
    )
    if on_retry is not None:
        copy = msg.raw_message.metadata.sequence.stream
        failure = Failure(error, attempt, bus.settings.max_deliver, delay, copy)
        try:
            await on_retry(message, failure)
        except Exception as unsaid:  # the retry matters more than saying so
            log.warning("failed attempt not reported", error=str(unsaid) or repr(unsaid))
    await msg.nack(delay=delay)


async def _keep_alive(msg: NatsMessage, ack_wait: float) -> None:
    """Tell the server the message is still being worked on, well within the ack wait."""
    while True:
        await asyncio.sleep(max(ack_wait / 3, 0.2))
        await msg.in_progress()
