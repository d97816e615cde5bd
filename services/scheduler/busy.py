"""Whether a job has a run that has not ended: read from the journal, as people read it.

The job's latest request is found by one direct get (the last message on its subject);
the job's events from shortly before it are folded into its runs (core/runs.py, the
fold `idsync run list` prints), and any run without an end is one going on.
"""

from __future__ import annotations

from nats.aio.client import Client

from core.runs import RunStory, fold
from schemas.events import RunRequested
from schemas.subjects import events_of, job_events
from services.common.reading import journal_events, latest_event, run_started_after


async def latest_request(nc: Client, job_id: str) -> RunRequested | None:
    event = await latest_event(nc, events_of(RunRequested, job_id))
    return event if isinstance(event, RunRequested) else None


async def recent_runs(nc: Client, job_id: str) -> list[RunStory]:
    """The job's runs from shortly before its latest request, oldest first: a run
    without `ended_at` is going on (or waiting: for approval, a runner, a dead letter)."""
    latest = await latest_request(nc, job_id)
    if latest is None:
        return []
    since = run_started_after(latest.run_id)
    return fold(await journal_events(nc, job_events(job_id), since=since))
