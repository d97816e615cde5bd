"""Provision one object now: a run of the job scoped to one key — the same scope, plan,
safety limits and approvals as any run (services/runner/planning/scoped.py) — followed
event by event, and told as steps: requested → read → in scope? → matched → planned
change → written / refused / waiting."""

from __future__ import annotations

import asyncio
import contextlib
from typing import TYPE_CHECKING, Any

from core.errors import NotFound
from core.run_texts import filtered_key_warning, unknown_keys_warning
from core.runs import RunStory, fold
from schemas.events import (
    Event,
    RunAwaitingApproval,
    RunDeadLetter,
    is_end,
)
from schemas.jobs import Job
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
    steps += _planning(story, job, key)
    if story.plan_hash and not isinstance(events[-1], RunAwaitingApproval):
        plan = await stored_plan(portal.bus, run_id)
        changes = await plan_rows(portal.bus, plan, job, key)
        action = changes[0]["action"] if changes else "none"
        words = f"{action}: {len(changes)} field(s)" if changes else "nothing to change"
        steps.append(_step("planned change", action, words, changes=changes))
    steps.append(_outcome(story, events))
    return {"run_id": run_id, "job": job_id, "key": key, "state": story.state, "steps": steps}


PLANNING_STEPS = frozenset({"map", "resolve", "skip"})
"""The actions of record errors found while planning (the others: a change applied)."""


def _planning(story: RunStory, job: Job, key: str) -> list[Step]:
    """What the plan says of the key: a key-scoped plan considers that object alone (the
    source may be read whole where the provider cannot look a key up). A record that
    failed is in the source, and its object unknown; a key in no record of the job's
    scope is held by an object unless the plan says no side holds it."""
    counts = story.planned
    if counts is None:
        return []
    considered = counts.changes + counts.unchanged + counts.skipped
    existing = considered - counts.create - counts.skipped
    read = story.source_records
    steps = [_step("read", "done", f"{read} source record(s) read to find the key")]
    failed = [
        e
        for e in story.errors
        if e.action in PLANNING_STEPS and e.key.strip().casefold() == key.casefold()
    ]
    if failed:
        why = "; ".join(e.message for e in failed)
        word = "skipped" if all(e.skipped for e in failed) else "failed"
        return [
            *steps,
            _step("in scope", word, f"the source holds the key, but its record {word}: {why}"),
            _step("matched", "unknown", f"not looked for: its record {word} first"),
        ]
    if not considered:
        warned = set(story.warnings)
        filtered = {filtered_key_warning(key, held) for held in (True, False)} & warned
        unknown = filtered_key_warning(key, held=False) in warned or (
            not filtered and unknown_keys_warning([key]) in warned
        )
        scope = (
            "the source holds the key, but the job's where leaves its record out"
            if filtered
            else "no source record in the job's scope has the key (the source lacks it, or "
            "the job's filters leave it out)"
        )
        return [
            *steps,
            _step("in scope", "no", scope),
            _step("matched", "no", "no object in the destination has the key")
            if unknown
            else _step("matched", "yes", _left_alone(job)),
        ]
    matched = "yes" if existing else "no"
    if counts.skipped and not existing and not counts.create:
        matched = _skipped_matched(job)
    words = {
        "yes": "an object in the destination has the key",
        "no": "no object in the destination has the key",
        "unknown": "the job skips the record either way (on_source_only and on_both = skip)",
    }
    return [
        *steps,
        _step("in scope", "yes", "the source holds the key and the job's filters keep it"),
        _step("matched", matched, words[matched]),
    ]


def _skipped_matched(job: Job) -> str:
    """Whether a record the plan skipped has its object: the job skips one with an object
    (`on_both = "skip"`), or one without (`on_source_only = "skip"`), or both alike."""
    both = {m.on_both == "skip" for m in job.objects}
    source_only = {m.on_source_only == "skip" for m in job.objects}
    if both == {True} and source_only == {False}:
        return "yes"
    if both == {False} and source_only == {True}:
        return "no"
    return "unknown"


def _left_alone(job: Job) -> str:
    """What becomes of an object whose key no record in scope has: a run for some keys
    never acts on absence; a whole run does what the job says (within its safety limits)."""
    found = "an object in the destination has the key; a run for one key leaves it alone"
    actions = {m.on_destination_only for m in job.objects} - {"skip"}
    if not actions:
        return f"{found}, as the job's full runs do (on_destination_only = skip)"
    return (
        f"{found}, but the job's next full run would {' or '.join(sorted(actions))} it "
        "(within its safety limits)"
    )


def _outcome(story: RunStory, events: list[Event]) -> Step:
    if not events or not _stops(events[-1]):
        if story.state.startswith("waiting: "):  # its turn, or a site's runner: not started
            return _step("outcome", "waiting", f"{story.state}: {story.reason}")
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
