"""Deliberate acknowledgement, the one way every service consumes its queues.

FastStream's NATS default terminates a message whose handler raises — a passing
database lock would silently drop a run. Here: ack on success; on an error, nak
*with a delay* that doubles with each delivery (a plain nak comes back at once);
term only what can never succeed (a message that cannot be decoded), and say so;
on the last allowed delivery, hand the error to `on_give_up` (the run says so) and
leave the message unacknowledged: the server announces it as a dead letter, which
`idsync deadletter retry` brings back. Long handlers keep the message with
in-progress acks.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable
from typing import Protocol, TypeVar

import msgspec
import structlog
from faststream.nats import NatsMessage

from schemas.events import Event, decode_event

from .logging import get_logger
from .settings import Settings


class AboutARun(Protocol):
    @property
    def run_id(self) -> str: ...
    @property
    def job_id(self) -> str: ...


M = TypeVar("M", bound=AboutARun)
Handler = Callable[[M, int], Awaitable[None]]
GiveUp = Callable[[M, BaseException], Awaitable[None]]

log = get_logger("idsync.delivery")


def deliberately(
    settings: Settings,
    handle: Handler[Event],
    on_give_up: GiveUp[Event] | None = None,
) -> Callable[[NatsMessage], Awaitable[None]]:
    """Wrap `handle(event, attempt)` for a durable pull subscriber of events."""
    return consume(settings, decode_event, handle, on_give_up)


def consume(
    settings: Settings,
    decode: Callable[[bytes], M],
    handle: Handler[M],
    on_give_up: GiveUp[M] | None = None,
) -> Callable[[NatsMessage], Awaitable[None]]:
    """Wrap `handle(message, attempt)` for a durable pull subscriber with manual acks."""

    async def on_message(msg: NatsMessage) -> None:
        try:
            message = decode(msg.body)
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
                await _after_failure(msg, message, attempt, error, settings, on_give_up)
            else:
                await msg.ack()
            finally:
                keep_alive.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await keep_alive

    return on_message


async def _after_failure(
    msg: NatsMessage,
    message: M,
    attempt: int,
    error: Exception,
    settings: Settings,
    on_give_up: GiveUp[M] | None,
) -> None:
    what = type(message).__name__
    if attempt >= settings.max_deliver:
        log.error(
            "giving up: the message is now a dead letter",
            message=what,
            attempt=attempt,
            error=str(error),
        )
        if on_give_up is not None:
            await on_give_up(message, error)
        # Not acked: the server, out of deliveries, announces it (a dead letter, kept by
        # the dead-letter stream) and the message stays in its stream for a retry.
        await msg.nack()
        return
    delay = settings.retry_delay_for(attempt)
    log.warning(
        "failed, will retry",
        message=what,
        attempt=attempt,
        retry_in=delay,
        error=str(error) or type(error).__name__,
    )
    await msg.nack(delay=delay)


async def _keep_alive(msg: NatsMessage, ack_wait: float) -> None:
    """Tell the server the message is still being worked on, well within the ack wait."""
    while True:
        await asyncio.sleep(max(ack_wait / 3, 0.2))
        await msg.in_progress()
