"""Following a run to its end: `idsync job run --wait` and the demo."""

from __future__ import annotations

import asyncio
import sys
import time
from contextlib import suppress

import nats.errors

from core.errors import Unreachable
from core.run_texts import duration
from core.runs import attempt_line
from schemas.events import (
    Event,
    RunAwaitingApproval,
    RunBatchApplied,
    RunDeadLetter,
    RunDeliveryFailed,
    RunFailed,
    RunFinished,
    RunPlanned,
    is_end,
    tag_of,
)
from schemas.subjects import job_events
from services.common.loops import stop_if_asked

from .client import Session
from .output import Progress, print_json, stats_line

EXIT_OK, EXIT_RUN_FAILED, EXIT_WITH_ERRORS, EXIT_WAITING = 0, 4, 5, 7
QUIET_CHECK = 5.0  # seconds without an event before the journal is asked
TICK = 0.5  # seconds between looks at the connection while no event comes


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
    async with session.follow(job_events(job_id)) as queue:
        run_id = await session.request_run(job_id, keys, changed_only)
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
                        raise _lost(session, run_id, now - away_since) from None
                    continue
                if away_since is None and now - looked < QUIET_CHECK:
                    continue
                away_since, looked = None, now
                with suppress(nats.errors.Error, TimeoutError):  # gone again: wait again
                    if (ended := await _ended_in_journal(session, job_id, run_id)) is not None:
                        return run_id, ended
                continue
            if event.run_id != run_id:
                continue
            if progress is not None:
                match event:
                    case RunPlanned(counts=counts):
                        progress.start(counts.changes)
                    case RunBatchApplied(changes=changes):
                        progress.advance(changes)
                    case RunDeliveryFailed():
                        progress.note(attempt_line(event))
            if stops(event):
                return run_id, event


def _lost(session: Session, run_id: str, waited: float) -> Unreachable:
    return Unreachable(
        f"lost the NATS server while following run {run_id} (waited {waited:.0f}s for it to "
        f"come back; IDSYNC_WAIT_RECONNECT={session.settings.wait_reconnect:g}). The run goes "
        f"on without this command: `idsync run show {run_id}` says how it ended once the "
        "server answers again"
    )


async def _ended_in_journal(session: Session, job_id: str, run_id: str) -> Event | None:
    """The run's end state if the journal has it (a core subscription can miss events)."""
    for event in reversed(await session.journal(job_events(job_id))):
        if event.run_id == run_id and stops(event):
            return event
    return None


def stops(event: Event) -> bool:
    """Where following a run ends: its end, or a wait for someone (an approval, or a
    dead letter to retry or drop)."""
    return is_end(event) or isinstance(event, RunAwaitingApproval | RunDeadLetter)


def exit_code(event: Event) -> int:
    if isinstance(event, RunFinished):
        return EXIT_WITH_ERRORS if event.with_errors else EXIT_OK
    if isinstance(event, RunAwaitingApproval | RunDeadLetter):
        return EXIT_WAITING
    return EXIT_RUN_FAILED


def describe_end(run_id: str, event: Event) -> str:
    match event:
        case RunFinished(stats=stats, seconds=seconds, with_errors=with_errors, staged=staged):
            state = "finished with errors" if with_errors else "finished"
            state += " (staging: nothing written)" if staged else ""
            return f"run {run_id} {state} in {duration(seconds)}\n  {stats_line(stats)}"
        case RunFailed(reason=reason):
            return f"run {run_id} failed: {reason}"
        case RunAwaitingApproval(reason=reason, plan_hash=None):
            return (
                f"run {run_id} waits for approval: {reason}\n"
                f"  an approver sees it in `idsync run approvals` and runs "
                f"`idsync run approve {run_id}`; `idsync run deny {run_id}` ends it"
            )
        case RunAwaitingApproval(reason=reason):
            return (
                f"run {run_id} wrote nothing and waits for approval: {reason}\n"
                f"  `idsync job preview {event.job_id}` shows the plan; "
                f"`idsync run approve {run_id}` applies it, `idsync run deny {run_id}` ends it"
            )
        case RunDeadLetter(stage=stage, batch=batch, error=error):
            what = f"batch {batch}" if stage == "batch" else "its planning"
            return (
                f"run {run_id} waits: {what} failed its last delivery: {error}\n"
                "  `idsync deadletter list` shows it; `idsync deadletter retry SEQ` tries it "
                "again, `idsync deadletter drop SEQ` gives it up"
            )
        case _:
            return f"run {run_id} {tag_of(event).removeprefix('run.')}"


async def wait_for_run(
    session: Session,
    job_id: str,
    keys: list[str] | None,
    *,
    as_json: bool,
    changed_only: bool = False,
) -> int:
    progress = None if as_json else Progress()
    run_id, end = await follow_run(session, job_id, keys, progress, changed_only)
    if progress is not None:
        progress.close()
    if as_json:
        print_json({"run_id": run_id, "end": end})
    else:
        out = sys.stdout if exit_code(end) == EXIT_OK else sys.stderr
        print(describe_end(run_id, end), file=out)
    return exit_code(end)
