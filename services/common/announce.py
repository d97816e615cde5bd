"""Giving up on a message, announced by the server now rather than later.

The server announces a message out of deliveries — the advisory the dead-letter stream
keeps, which `idsync deadletter list` reads — only when a subscriber of its consumer
next asks for messages. A runner asks again only once every batch of its last fetch is
done: seconds, or minutes, after it gave one up, while the run already said it waited
on a dead letter. So the message is handed back to the server (a nak the server
confirms), and the server is asked for one message of at most one byte: no message
fits, so none is delivered, but looking for one the server finds this one out of
deliveries and announces it.
"""

from __future__ import annotations

import asyncio
import json
import time

import nats.errors
import nats.js.errors
from nats.aio.client import Client
from nats.aio.msg import Msg
from nats.js import JetStreamContext

from .jetstream import DEADLETTERS
from .logging import get_logger

NOTHING_FITS = json.dumps({"batch": 1, "no_wait": True, "max_bytes": 1}).encode()
"""A pull request no message fits: it delivers nothing, and makes the server look."""

log = get_logger("idsync.delivery")


async def announce_given_up(nc: Client, msg: Msg, wait: float = 2.0) -> bool:
    """Leave `msg`, on its last delivery, to the server as a dead letter; True once the
    dead-letter stream keeps the server's announcement (within `wait` seconds)."""
    js = nc.jetstream()
    meta = msg.metadata
    advisory = f"$JS.EVENT.ADVISORY.CONSUMER.MAX_DELIVERIES.{meta.stream}.{meta.consumer}"
    try:
        start = (await js.stream_info(DEADLETTERS)).state.last_seq + 1
        await nc.request(msg.reply, b"-NAK", timeout=wait)
        await nc.request(
            f"$JS.API.CONSUMER.MSG.NEXT.{meta.stream}.{meta.consumer}", NOTHING_FITS, timeout=wait
        )
        if await _kept(js, advisory, start, meta.sequence.stream, wait):
            return True
    except (nats.errors.Error, TimeoutError) as error:
        log.warning("dead letter not announced yet", error=str(error) or type(error).__name__)
        return False
    log.warning("dead letter not announced yet", waited=wait)
    return False


async def _kept(
    js: JetStreamContext, subject: str, start: int, stream_seq: int, wait: float
) -> bool:
    """Whether the dead-letter stream, from `start` on, keeps the announcement of the
    message at `stream_seq` — looked for until `wait` seconds have passed."""
    deadline = time.monotonic() + wait
    while time.monotonic() < deadline:
        try:
            found = await js.get_msg(DEADLETTERS, seq=start, subject=subject, next=True)
        except nats.js.errors.NotFoundError:
            await asyncio.sleep(0.01)
            continue
        if json.loads(found.data or b"{}").get("stream_seq") == stream_seq:
            return True
        start = (found.seq or start) + 1
    return False
