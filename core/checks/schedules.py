"""A job's schedules: each one reads (core/schedules.py), and each has its own name."""

from __future__ import annotations

from core.schedules import named, problems
from core.words import show
from schemas.ids import is_slug
from schemas.jobs import Job

from .facts import Report


def check_schedules(bad: Report, job: Job) -> None:
    paths = (["$.schedule"] if job.schedule is not None else []) + [
        f"$.schedules[{i}]" for i in range(len(job.schedules))
    ]
    seen: dict[str, str] = {}
    for at, (name, schedule) in zip(paths, named(job), strict=True):
        for field, text in problems(schedule):
            bad(f"{at}.{field}" if field else at, text)
        if schedule.name and not is_slug(schedule.name):
            bad(f"{at}.name", f"expected a name of a-z, 0-9, _ and -, got {show(schedule.name)}")
        elif name in seen:
            bad(
                f"{at}.name",
                f"expected each schedule named once: {show(name)} is also {seen[name]}'s; "
                'give each a name (name = "nightly")',
            )
        seen.setdefault(name, at)
