"""A collection run as a sequence (pure): which job runs now, what a run's end does to
the collection, and how it ends. The workflow keeps the state in the bucket
`idsync_collection_runs` and calls these on each event; nothing here waits or reads.

A job's run that ends failed, cancelled, denied or expired is a failure: the collection
aborts (the jobs after it are skipped) or goes on, as that job's `on_failure` says. A run
that finished — with record errors too — is no failure.
"""

from __future__ import annotations

from datetime import datetime

import msgspec

from core.run_texts import stats_line
from schemas.collections import Collection
from schemas.events import StepOutcome
from schemas.ids import step_run_id
from schemas.plan import RunStats

FAILURES = frozenset({"failed", "cancelled", "denied", "expired"})
ENDED = frozenset({"finished", "finished with failures", "aborted", "cancelled"})


class CollectionRun(msgspec.Struct, kw_only=True):
    collection_id: str
    run_id: str
    requested_by: str
    trigger: str = "manual"
    steps: list[StepOutcome]
    state: str = "running"
    """running, or how it ended: finished, finished with failures, aborted, cancelled."""
    by: str = ""
    """Who cancelled it."""
    requested_at: datetime | None = None
    ended_at: datetime | None = None

    @property
    def ended(self) -> bool:
        return self.state in ENDED

    @property
    def current(self) -> int | None:
        """The index of the step running now (None: none is)."""
        return next((i for i, s in enumerate(self.steps) if s.outcome == "running"), None)


def begin(
    collection: Collection, run_id: str, requested_by: str, trigger: str, at: datetime
) -> CollectionRun:
    """A collection run as asked for: its first job running (its run id known now)."""
    steps = [StepOutcome(job=s.job, on_failure=s.on_failure) for s in collection.jobs]
    run = CollectionRun(
        collection_id=collection.id,
        run_id=run_id,
        requested_by=requested_by,
        trigger=trigger,
        steps=steps,
        requested_at=at,
    )
    return _start_next(run, at)


def _start_next(run: CollectionRun, at: datetime) -> CollectionRun:
    pending = next((i for i, s in enumerate(run.steps) if s.outcome == "pending"), None)
    if pending is None:
        failed = any(s.outcome in FAILURES for s in run.steps)
        run.state = "finished with failures" if failed else "finished"
        run.ended_at = at
        return run
    step = run.steps[pending]
    run.steps[pending] = msgspec.structs.replace(
        step, outcome="running", run_id=step_run_id(run.run_id, pending + 1)
    )
    return run


def step_ended(
    run: CollectionRun,
    step_run: str,
    outcome: str,
    at: datetime,
    stats: RunStats | None = None,
) -> CollectionRun | None:
    """The collection after its running step's run ended `outcome` (a run story's state
    in words) having done `stats`: the next job running, or its end. None when that run
    is not the step running now (an end seen twice, or after a cancel): nothing changes."""
    index = run.current
    if run.ended or index is None or run.steps[index].run_id != step_run:
        return None
    step = run.steps[index]
    run.steps[index] = msgspec.structs.replace(step, outcome=outcome, stats=stats)
    if outcome in FAILURES and step.on_failure == "abort":
        for later in range(index + 1, len(run.steps)):
            run.steps[later] = msgspec.structs.replace(run.steps[later], outcome="skipped")
        run.state, run.ended_at = "aborted", at
        return run
    return _start_next(run, at)


def cancel(run: CollectionRun, by: str, at: datetime) -> CollectionRun | None:
    """Cancelled: no job of it starts any more (the running one is cancelled by the
    caller); None when it had ended."""
    if run.ended:
        return None
    for i, step in enumerate(run.steps):
        if step.outcome in ("pending", "running"):
            gone = "skipped" if step.outcome == "pending" else "cancelled"
            run.steps[i] = msgspec.structs.replace(step, outcome=gone)
    run.state, run.by, run.ended_at = "cancelled", by, at
    return run


def totals(steps: list[StepOutcome]) -> RunStats:
    """What the collection run's jobs did, added up (the steps that ended with statistics)."""
    found = RunStats()
    for step in steps:
        if step.stats is not None:
            found = found.add(step.stats)
    return found


def step_lines(steps: list[StepOutcome]) -> list[str]:
    """Each job's outcome, its run and what it did, then the sum of them: one wording for
    `idsync collection show|run` and the summary mail."""
    lines = []
    for number, step in enumerate(steps, 1):
        ran = f" (run {step.run_id})" if step.run_id else ""
        did = f": {stats_line(step.stats)}" if step.stats is not None else ""
        lines.append(f"{number}. {step.job}: {step.outcome}{ran}{did}")
    if any(step.stats is not None for step in steps):
        lines.append(f"in all: {stats_line(totals(steps))}")
    return lines
