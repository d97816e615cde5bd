"""When a job runs next on its own, for `idsync job list` (pure: the clock is passed in)."""

from __future__ import annotations

from datetime import datetime

from core.checks.intervals import parse_interval
from schemas.jobs import Job
from services.scheduler.schedule import next_fire


def next_run(job: Job, now: datetime) -> datetime | None:
    """The scheduler's next fire time for the job; None when it does not run on its own
    (disabled, or no schedule)."""
    if not job.enabled or job.schedule is None or job.schedule.every is None:
        return None
    return next_fire(now, parse_interval(job.schedule.every))


def schedule_text(job: Job) -> str:
    """The job's schedule as people read it."""
    if job.schedule is None or job.schedule.every is None:
        return "manual only"
    return f"every {job.schedule.every}"
