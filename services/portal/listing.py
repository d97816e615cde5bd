"""The runs the pages and the API list: from the recorder's indexes (its runs table holds
every run's story), brought up to the journal's present for the runs still going or
newer than what the recorder has reached — not the whole journal folded per request.
Without a recorder, or refused by it (services/recorder/allowed.py), the journal alone,
as `idsync run list` reads it."""

from __future__ import annotations

from datetime import datetime

import msgspec

from core.errors import NotFound, Unreachable
from core.runs import RunStory, fold
from schemas.events import Event
from schemas.history import HistoryQuery
from schemas.subjects import RUN_EVENTS, job_events
from services.common.client import Session
from services.common.history_client import ask, pages, recorded_runs
from services.common.reading import (
    journal_events,
    journal_tail,
    run_events,
    run_started_after,
)

from .views import progress

TAIL = 100
"""The journal's last events read beside the recorder's answer: runs it has not reached."""
FRESHENED = 20
"""At most this many runs brought up to the journal's present per request."""

LATEST_MORE = 1000
CHARTED = 5000
"""Runs the dashboard's chart of the last 30 days counts at most (the newest)."""
"""Each job's last run is asked for this many more jobs than there are (deleted ones')."""

Progress = dict[str, tuple[int, int]]
_story = msgspec.json.Decoder(RunStory)


async def recent_runs(
    session: Session, limit: int, *, job_id: str = ""
) -> tuple[list[RunStory], Progress]:
    """The last `limit` runs (of `job_id`), newest first, and the batches applied of
    those still going."""
    subject = job_events(job_id) if job_id else RUN_EVENTS
    try:
        stories = await recorded_runs(session, job_id=job_id, limit=limit)
    except (Unreachable, NotFound):
        events = await session.journal(subject)
        return fold(events)[-limit:][::-1], progress(events)
    known = {story.run_id: story for story in stories}
    tail = await journal_tail(session.nc, subject, TAIL)
    stale = [s.run_id for s in stories if s.ended_at is None]
    newer = list(dict.fromkeys(e.run_id for e in reversed(tail) if e.run_id not in known))
    jobs = {e.run_id: e.job_id for e in tail} | {s.run_id: s.job_id for s in stories}
    steps: Progress = {}
    for run_id in [*newer, *stale][:FRESHENED]:
        found: list[Event] = await run_events(session.nc, jobs[run_id], run_id)
        if found:
            known[run_id] = fold(found)[0]
            steps |= progress(found)
    ordered = sorted(
        known.values(),
        key=lambda s: (s.requested_at is not None, s.requested_at, s.run_id),
        reverse=True,
    )
    return ordered[:limit], steps


async def runs_since(session: Session, since: datetime, recent: list[RunStory]) -> list[RunStory]:
    """The runs asked for since `since` (at most CHARTED, newest first, as fresh as the
    `recent` runs), from the recorder; from the journal without one."""
    try:
        stories = await recorded_runs(session, since=since.isoformat(), limit=CHARTED)
    except (Unreachable, NotFound):
        return fold(await session.journal(RUN_EVENTS))[::-1]
    fresh = {story.run_id: story for story in recent}
    known = [fresh.pop(story.run_id, story) for story in stories]
    return [*fresh.values(), *known]


async def last_runs(session: Session, job_ids: set[str]) -> dict[str, RunStory]:
    """Each job's last run, by job (from the recorder; the journal without one)."""
    try:
        stories = await recorded_runs(session, latest=True, limit=len(job_ids) + LATEST_MORE)
    except (Unreachable, NotFound):
        stories = fold(await session.journal())  # oldest first: the last one stays
    else:
        stories.reverse()  # newest first: the last one written stays
    return {story.job_id: story for story in stories if story.job_id in job_ids}


def newer(last: dict[str, RunStory], recent: list[RunStory]) -> dict[str, RunStory]:
    """Each job's last run, the recent runs (newest first, as fresh as the journal)
    taking the place of what the recorder had."""
    found = dict(last)
    for story in reversed(recent):  # oldest first: the newest of a job stays
        before = found.get(story.job_id)
        if before is None or _when(story) >= _when(before):
            found[story.job_id] = story
    return found


def _when(story: RunStory) -> tuple[str, str]:
    asked = story.requested_at.isoformat() if story.requested_at is not None else ""
    return asked, story.run_id


async def journal_story(session: Session, run_id: str, job_id: str = "") -> RunStory | None:
    """One run's story folded from its events in the journal (its job's, from shortly
    before its id's time — not the whole journal)."""
    if job_id:
        events = await run_events(session.nc, job_id, run_id)
    else:
        since = run_started_after(run_id)
        found = await journal_events(session.nc, RUN_EVENTS, since=since)
        events = [e for e in found if e.run_id == run_id]
    stories = fold(events)
    return stories[0] if stories else None


async def run_story(session: Session, run_id: str) -> RunStory | None:
    """A run's story: the recorder's once the run has ended (with its record errors),
    the journal's while it goes on or before the recorder has reached it."""
    job_id = ""
    try:
        reply = await ask(session, HistoryQuery(what="run", run_id=run_id))
    except (Unreachable, NotFound):
        pass
    else:
        story = _story.decode(reply.story)
        if story.ended_at is not None:
            query = HistoryQuery(what="errors", run_id=run_id)
            story.errors = [e async for r in pages(session, query) for e in r.errors]
            return story
        job_id = story.job_id
    return await journal_story(session, run_id, job_id)
