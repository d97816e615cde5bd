"""When a job runs next on its own, and its schedules as people read them (pure: the
clock is passed in; the fire times are the scheduler's own, core/schedules.py)."""

from __future__ import annotations

from datetime import datetime
from typing import Protocol

from core.errors import BadInput
from core.schedules import describe, named, next_fire
from schemas.jobs import Schedule


class Scheduled(Protocol):
    """A job or a collection."""

    @property
    def enabled(self) -> bool: ...
    @property
    def all_schedules(self) -> list[Schedule]: ...


def next_of(schedule: Schedule, now: datetime) -> datetime | None:
    try:
        return next_fire(schedule, now)
    except BadInput:
        return None


def next_run(job: Scheduled, now: datetime) -> datetime | None:
    """The first of the job's schedules' next fire times; None when it does not run on
    its own (disabled, no enabled schedule, a `once` gone by)."""
    if not job.enabled:
        return None
    found = [next_of(s, now) for _, s in named(job) if s.enabled]
    return min((at for at in found if at is not None), default=None)


def spent(job: Scheduled, now: datetime) -> list[str]:
    """Notes on the job's enabled schedules that will never fire again (a `once` whose
    time has passed): applied all the same — a file applied again after its `once` fired
    is no mistake —, but a wrong year is best seen when the job is applied."""
    return [
        f"schedule {name} ({describe(s)}) will never fire: its time has passed"
        for name, s in named(job)
        if s.enabled and next_of(s, now) is None
    ]


def schedule_text(job: Scheduled) -> str:
    """The job's schedules as people read them; "manual only" without any."""
    texts = [describe(s) + ("" if s.enabled else " (disabled)") for s in job.all_schedules]
    return "; ".join(texts) or "manual only"
