"""Provision one object now: a run of the job scoped to one key — the same scope, plan,
safety limits and approvals as any run (services/runner/planning/scoped.py) — followed
event by event, and told as steps: requested → read → in scope? → matched → planned
change → written / refused / waiting."""

from __future__ import annotations

import asyncio
import contextlib
from typing import TYPE_CHECKING, Any

from core.errors import NotFound
from core.runs import RunStory, fold
from schemas.events import (
    Event,
    RunAwaitingApproval,
    RunDeadLetter,
    is_end,
)
from schemas.subjects import job_events

from .views import plan_rows, stored_plan

if TYPE_CHECKING:
    from .portal import Portal

Step = dict[str, Any]


def _step(name: str, outcome: str, detail: str, **more: Any) -> Step:
    return {"step": name, "outcome": outcome, "detail": detail, **more}


def _stops(event: Event) -> bool:
    return is_end(event) or isinstance(event, RunAwaitingApproval | RunDeadLetter)


async def provision(
    portal: Portal, principal: str, job_id: str, key: str, wait: float
) -> dict[str, Any]:
    job = await portal.bus.store.find_job(job_id)
    if job is None:
        raise NotFound(f"no job {job_id!r}")
    session = portal.session(principal)
    events: list[Event] = []
    async with session.follow(job_events(job_id)) as queue:
        answer = await session.ask_run(job_id, [key])
        run_id = answer.run_id or ""
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(wait):
                while True:
                    event = await queue.get()
                    if event.run_id != run_id:
                        continue
                    events.append(event)
                    if _stops(event):
                        break
    steps = [
        _step(
            "requested",
            "done",
            f"run {run_id} asked for by {principal}",
            waits_for=answer.waits_for,
        )
    ]
    runs = fold(events)
    story = runs[0] if runs else RunStory(run_id=run_id, job_id=job_id)
    steps += _planning(story)
    if story.plan_hash and not isinstance(events[-1], RunAwaitingApproval):
        plan = await stored_plan(portal.bus, run_id)
        changes = await plan_rows(portal.bus, plan, job, key)
        action = changes[0]["action"] if changes else "none"
        words = f"{action}: {len(changes)} field(s)" if changes else "nothing to change"
        steps.append(_step("planned change", action, words, changes=changes))
    steps.append(_outcome(story, events))
    return {"run_id": run_id, "job": job_id, "key": key, "state": story.state, "steps": steps}


def _planning(story: RunStory) -> list[Step]:
    """What the plan says of the key: a key-scoped plan considers that object alone (the
    source may be read whole where the provider cannot look a key up)."""
    counts = story.planned
    if counts is None:
        return []
    considered = counts.changes + counts.unchanged + counts.skipped
    existing = considered - counts.create - counts.skipped
    read = story.source_records
    return [
        _step("read", "done", f"{read} source record(s) read to find the key"),
        _step(
            "in scope",
            "yes" if considered else "no",
            "the source holds the key and the job's filters keep it"
            if considered
            else "the source has no such key, or the job's filters leave it out",
        ),
        _step(
            "matched",
            "yes" if existing else "no",
            "an object in the destination has the key"
            if existing
            else "no object in the destination has the key",
        ),
    ]


def _outcome(story: RunStory, events: list[Event]) -> Step:
    if not events or not _stops(events[-1]):
        return _step("outcome", "running", f"not ended yet ({story.state}): follow the run")
    last = events[-1]
    if isinstance(last, RunAwaitingApproval):
        return _step("outcome", "waiting", f"waits for approval: {last.reason}")
    if isinstance(last, RunDeadLetter):
        return _step("outcome", "waiting", "a batch is a dead letter: see the run")
    errors = [f"{e.key}: {e.message}" for e in story.errors]
    if story.state in {"finished"} and not errors:
        written = story.stats.written
        return _step("outcome", "written" if written else "unchanged", story.state, errors=[])
    return _step("outcome", "refused", story.reason or story.state, errors=errors)
