"""One run's events, read from the journal for its mail.

An ordered consumer on the job's events (it leaves nothing behind on the server),
starting shortly before the time in the run's id: a job that runs every minute has
months of events, and a mail needs one run's. Run ids that carry no time (none do
today) are read from the start of the journal.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

import msgspec
import nats.errors
from nats.js import JetStreamContext
from nats.js.api import ConsumerConfig, DeliverPolicy

from schemas.events import Event, decode_event
from schemas.subjects import job_events
from services.common.jetstream import JOURNAL

_RUN_TIME = re.compile(r"(\d{8}T\d{6}Z)-")
# Run ids take their time from the request (or the schedule's fire time): the margin
# covers clocks of different machines that disagree a little.
_MARGIN = timedelta(minutes=10)


def run_started_after(run_id: str) -> datetime | None:
    """A moment before the run's first event, from the time in its id; None if it has none."""
    found = _RUN_TIME.match(run_id)
    if found is None:
        return None
    return datetime.strptime(found[1], "%Y%m%dT%H%M%SZ").replace(tzinfo=UTC) - _MARGIN


async def run_events(js: JetStreamContext, job_id: str, run_id: str) -> list[Event]:
    """The run's events in journal order, up to the journal's end as it is now."""
    subject = job_events(job_id)
    since = run_started_after(run_id)
    config = ConsumerConfig(
        deliver_policy=DeliverPolicy.BY_START_TIME if since else DeliverPolicy.ALL,
        opt_start_time=since,
    )
    sub = await js.subscribe(subject, stream=JOURNAL, ordered_consumer=True, config=config)
    found: list[Event] = []
    try:
        while True:
            try:
                msg = await sub.next_msg(timeout=2.0)
            except nats.errors.TimeoutError:
                break  # nothing (more) on the subject
            try:
                event = decode_event(msg.data)
            except (msgspec.DecodeError, msgspec.ValidationError):
                event = None  # a tag this version does not know
            if event is not None and event.run_id == run_id:
                found.append(event)
            if msg.metadata.num_pending == 0:
                break
    finally:
        await sub.unsubscribe()
    return found
