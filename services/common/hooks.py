"""Whether a job's hooks can be loaded where it is applied: loading imports the module
the job names, so this is asked here, by whoever applies the job, and the answer handed
to the pure checks (`check_job(…, hooks_problem=hooks_problem(job))`)."""

from __future__ import annotations

from typing import NoReturn

from core.engine.scripts import load
from schemas.jobs import Job


class _Refused(Exception):
    pass


def hooks_problem(job: Job) -> str | None:
    """Why the job's hooks cannot be loaded here; None when they can, or it has none."""
    if job.hooks is None:
        return None
    try:
        load(job.hooks, "the runner", _refuse)
    except _Refused as refused:
        return str(refused)
    return None


def _refuse(problem: str) -> NoReturn:
    raise _Refused(problem)
