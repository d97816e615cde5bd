"""Following a run to its end: `idsync job run --wait` and the demo."""

from __future__ import annotations

import asyncio
import time
from contextlib import AsyncExitStack, suppress

import nats.errors

from core.errors import Unreachable
from schemas.events import Event
from schemas.subjects import job_events
from services.common.loops import stop_if_asked
from services.common.settings import Settings

from .client import Session, connect
from .ends import (
    EXIT_OK,
    EXIT_RUN_FAILED,
    EXIT_WAITING,
    EXIT_WITH_ERRORS,
    QUIET_CHECK,
    TICK,
    Followed,
    describe_end,
    exit_code,
    lost,
    print_end,
    stops,
)
from .output import Progress

__all__ = [  # ends.py's too: the demo and the tests take them from here
    "EXIT_OK",
    "EXIT_RUN_FAILED",
    "EXIT_WAITING",
    "EXIT_WITH_ERRORS",
    "describe_end",
    "exit_code",
    "follow_requested",
    "follow_run",
    "resume",
    "stops",
    "wait_for_run",
]


async def follow_run(
    session: Session,
    job_id: str,
    keys: list[str] | None,
    progress: Progress | None = None,
    changed_only: bool = False,
) -> tuple[str, Event]:
    """Request a run of the job and follow its events to its end state. A server that
    goes away is waited for (IDSYNC_WAIT_RECONNECT seconds, on a patient session); once
    it is back, the journal says what happened meanwhile."""
    followed, end = await _follow_new(session, job_id, keys, progress, changed_only)
    return followed.run_id, end


async def _follow_new(
    session: Session,
    job_id: str,
    keys: list[str] | None,
    progress: Progress | None,
    changed_only: bool,
) -> tuple[Followed, Event]:
    """`follow_run`, with what following gathered (the record errors) beside the end."""
    async with session.follow(job_events(job_id)) as queue:
        run_id = await session.request_run(job_id, keys, changed_only)
        followed = Followed(run_id, progress)
        return followed, await _follow(session, queue, job_id, followed)


async def follow_requested(session: Session, job_id: str, followed: Followed) -> Event:
    """Follow a run requested on another connection (`idsync job run` asks on a quick
    one, services/cli/job_quick.py) to its end state: the journal first, for the events
    that came while nobody listened here."""
    async with session.follow(job_events(job_id)) as queue:
        with suppress(nats.errors.Error, TimeoutError):  # the loop asks again
            for event in await session.journal(job_events(job_id)):
                if followed.take(event):
                    return event
        return await _follow(session, queue, job_id, followed)


async def resume(
    settings: Settings, job_id: str, followed: Followed, away_since: float | None
) -> Event:
    """`follow_requested` on a patient session, once one connects: a server gone away
    (since `away_since`, on the monotonic clock) is waited for as a patient session
    waits for it, IDSYNC_WAIT_RECONNECT seconds."""
    while True:
        async with AsyncExitStack() as stack:
            try:
                session = await stack.enter_async_context(connect(settings, patient=True))
            except Unreachable:
                now = time.monotonic()
                away_since = now if away_since is None else away_since
                if now - away_since > settings.wait_reconnect:
                    raise lost(followed.run_id, now - away_since, settings.wait_reconnect) from None
                await asyncio.sleep(TICK)
                continue
            return await follow_requested(session, job_id, followed)


async def _follow(
    session: Session, queue: asyncio.Queue[Event], job_id: str, followed: Followed
) -> Event:
    run_id = followed.run_id
    looked = time.monotonic()
    away_since: float | None = None
    while True:
        stop_if_asked()  # a Ctrl-C that came with an event
        try:
            event = await asyncio.wait_for(queue.get(), TICK)
        except TimeoutError:
            now = time.monotonic()
            if not session.nc.is_connected:
                away_since = now if away_since is None else away_since
                if session.nc.is_closed or now - away_since > session.settings.wait_reconnect:
                    raise lost(run_id, now - away_since, session.settings.wait_reconnect) from None
                continue
            if away_since is None and now - looked < QUIET_CHECK:
                continue
            away_since, looked = None, now
            with suppress(nats.errors.Error, TimeoutError):  # gone again: wait again
                if (ended := await _ended_in_journal(session, job_id, followed)) is not None:
                    return ended
            continue
        if followed.take(event):
            return event


async def _ended_in_journal(session: Session, job_id: str, followed: Followed) -> Event | None:
    """The run's end state if the journal has it (a core subscription can miss events);
    the plan's warnings are taken from it too."""
    journal = await session.journal(job_events(job_id))
    for event in journal:
        followed.learn(event)
    for event in reversed(journal):
        if event.run_id == followed.run_id and stops(event):
            return event
    return None


async def wait_for_run(
    session: Session,
    job_id: str,
    keys: list[str] | None,
    *,
    as_json: bool,
    changed_only: bool = False,
) -> int:
    progress = None if as_json else Progress()
    followed, end = await _follow_new(session, job_id, keys, progress, changed_only)
    return print_end(followed.run_id, end, as_json=as_json, followed=followed)
