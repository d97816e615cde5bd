"""Reading streams and buckets without leaving anything on the server.

People may not create consumers (access.py says why), so what they read comes by
requests the server answers from the store: batched direct gets for the journal
(nats-server 2.11+, the stream needs `allow_direct`), stream information for a
bucket's keys. Both need nothing but read permissions, and services use them too.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator

import nats.errors
import nats.js.errors
from nats.aio.client import Client
from nats.aio.msg import Msg
from nats.js import JetStreamContext

from .errors import Unreachable
from .jetstream import not_set_up

BATCH = 1000
TIMEOUT = 5.0


async def read_stream(
    nc: Client, stream: str, subject: str, *, start: int = 1, batch: int = BATCH
) -> AsyncIterator[Msg]:
    """Every message of `stream` on `subject` from sequence `start`, oldest first, up to
    the end of the stream as it is when each batch is asked for."""
    while True:
        last = 0
        pending = 0
        inbox = nc.new_inbox()
        sub = await nc.subscribe(inbox)
        try:
            request = {"seq": start, "batch": batch, "next_by_subj": subject}
            await nc.publish(
                f"$JS.API.DIRECT.GET.{stream}", json.dumps(request).encode(), reply=inbox
            )
            while True:
                try:
                    msg = await sub.next_msg(timeout=TIMEOUT)
                except nats.errors.TimeoutError:
                    raise Unreachable(
                        f"the server did not answer a read of stream {stream} within "
                        f"{TIMEOUT:.0f}s (is it nats-server 2.11 or newer?)"
                    ) from None
                headers = msg.headers or {}
                if "Status" in headers:  # 204: end of this batch; 404: nothing (more)
                    break
                last = int(headers.get("Nats-Sequence", last))
                pending = int(headers.get("Nats-Num-Pending", 0))
                yield msg
        finally:
            await sub.unsubscribe()
        if not last or not pending:
            return
        start = last + 1


async def bucket_keys(js: JetStreamContext, bucket: str) -> list[str]:
    """The keys of a key-value bucket (deleted ones too: reading them says so), from the
    stream's subject list rather than a watcher's consumer. A missing bucket is not an
    empty one: the services have not started there."""
    prefix = f"$KV.{bucket}."
    try:
        info = await js.stream_info(f"KV_{bucket}", subjects_filter=f"{prefix}>")
    except nats.js.errors.NotFoundError:
        raise not_set_up(f"bucket {bucket}") from None
    return sorted(subject.removeprefix(prefix) for subject in (info.state.subjects or {}))
