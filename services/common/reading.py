"""Reading streams and buckets without leaving anything on the server.

People may not create consumers (access.py says why), so what they read comes by
requests the server answers from the store: batched direct gets for the journal
(nats-server 2.11+, the stream needs `allow_direct`), stream information for a
bucket's keys. Both need nothing but read permissions, and services use them too:
the journal is read this one way, by the command line (`idsync run list|show`) and by
the notifier (a run's events for its mail).
"""

from __future__ import annotations

import json
import re
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta

import msgspec
import nats.errors
import nats.js.errors
from nats.aio.client import Client
from nats.aio.msg import Msg
from nats.js import JetStreamContext
from nats.js.api import StreamState

from core.errors import Unreachable
from schemas.events import Event, decode_event
from schemas.subjects import RUN_EVENTS, job_events

from .jetstream import JOURNAL, not_set_up

BATCH = 1000
TIMEOUT = 5.0


async def read_stream(
    nc: Client,
    stream: str,
    subject: str,
    *,
    start: int = 1,
    since: datetime | None = None,
    batch: int = BATCH,
) -> AsyncIterator[Msg]:
    """Every message of `stream` on `subject` from sequence `start` (or, given `since`,
    from the first stored at that time or later), oldest first, up to the end of the
    stream as it is when each batch is asked for. An answer that is neither a message
    nor the end of a batch (no stream leader, a timeout) fails the read (`Unreachable`):
    taken for the end, the messages after it would be missing — pushed records, for a
    run, taken for absent."""
    while True:
        last = 0
        pending = 0
        inbox = nc.new_inbox()
        sub = await nc.subscribe(inbox)
        try:
            request: dict[str, object] = {"batch": batch, "next_by_subj": subject}
            if since is not None:
                request["start_time"] = since.isoformat()
            else:
                request["seq"] = start
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
                if (status := headers.get("Status")) in ("204", "404"):
                    break  # 204: end of this batch; 404: nothing (more)
                if status is not None:  # no stream leader, a timeout, a refusal
                    said = headers.get("Description", "")
                    raise Unreachable(
                        f"the server answered {status} {said}".rstrip()
                        + f" part-way through a read of stream {stream}: the read "
                        "stops here rather than take what it did not read for absent"
                    )
                last = int(headers.get("Nats-Sequence", last))
                pending = int(headers.get("Nats-Num-Pending", 0))
                yield msg
        finally:
            await sub.unsubscribe()
        if not last or not pending:
            return
        start, since = last + 1, None


async def journal_events(
    nc: Client, subject: str = RUN_EVENTS, *, since: datetime | None = None
) -> list[Event]:
    """Every event in the journal on `subject` (stored at `since` or later, when given),
    oldest first. A journal that does not exist is not an empty one: the services have
    not started there."""
    state = await _journal_state(nc)
    if state.messages == 0:
        return []
    return await _events(read_stream(nc, JOURNAL, subject, start=state.first_seq, since=since))


async def latest_event(nc: Client, subject: str) -> Event | None:
    """The last event on `subject` (one job's kind of event), by one direct get; None
    when there is none (or none this version can read)."""
    try:
        msg = await nc.jetstream().get_msg(JOURNAL, subject=subject, direct=True)
    except (nats.js.errors.NotFoundError, nats.errors.NoRespondersError):
        return None
    try:
        return decode_event(msg.data or b"")
    except (msgspec.DecodeError, msgspec.ValidationError):
        return None


async def journal_tail(nc: Client, subject: str, count: int) -> list[Event]:
    """The events on `subject` among the journal's last `count` messages, oldest first."""
    state = await _journal_state(nc)
    if state.messages == 0:
        return []
    start = max(state.first_seq, state.last_seq - count + 1)
    return await _events(read_stream(nc, JOURNAL, subject, start=start, batch=count))


async def _journal_state(nc: Client) -> StreamState:
    try:
        return (await nc.jetstream().stream_info(JOURNAL)).state
    except nats.js.errors.NotFoundError:
        raise not_set_up(f"stream {JOURNAL}") from None


async def _events(messages: AsyncIterator[Msg]) -> list[Event]:
    events: list[Event] = []
    async for msg in messages:
        try:
            events.append(decode_event(msg.data))
        except (msgspec.DecodeError, msgspec.ValidationError):
            continue  # not ours to read: a newer tag this version does not know
    return events


async def run_events(nc: Client, job_id: str, run_id: str) -> list[Event]:
    """One run's events in journal order, up to the journal's end as it is now: its
    job's events from shortly before the time in the run's id (a job that runs every
    minute has months of events, and one run's are wanted)."""
    since = run_started_after(run_id)
    return [
        e for e in await journal_events(nc, job_events(job_id), since=since) if e.run_id == run_id
    ]


_RUN_TIME = re.compile(r"(\d{8}T\d{6}Z)-")
# Run ids take their time from the request (or the schedule's fire time): the margin
# covers clocks of different machines that disagree a little.
_MARGIN = timedelta(minutes=10)


def run_started_after(run_id: str) -> datetime | None:
    """A moment before the run's first event, from the time in its id; None if it has
    none (such a run is read from the start of the journal)."""
    found = _RUN_TIME.match(run_id)
    if found is None:
        return None
    try:
        started = datetime.strptime(found[1], "%Y%m%dT%H%M%SZ").replace(tzinfo=UTC)
    except ValueError:  # a time no clock shows (month 13): no run's, read as one without
        return None
    return started - _MARGIN


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
