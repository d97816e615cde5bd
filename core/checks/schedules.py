"""A job's schedules: each one reads (core/schedules.py), and each has its own name."""

from __future__ import annotations

from core.schedules import name_of, problems
from core.words import show
from schemas.ids import is_slug
from schemas.jobs import Schedule

from .facts import Report


def check_schedules(bad: Report, schedule: Schedule | None, schedules: list[Schedule]) -> None:
    """A job's (or a collection's) `schedule` and `schedules`."""
    listed = ([schedule] if schedule is not None else []) + schedules
    paths = (["$.schedule"] if schedule is not None else []) + [
        f"$.schedules[{i}]" for i in range(len(schedules))
    ]
    seen: dict[str, str] = {}
    for at, one in zip(paths, listed, strict=True):
        name = name_of(one)
        for field, text in problems(one):
            bad(f"{at}.{field}" if field else at, text)
        if one.name and not is_slug(one.name):
            bad(f"{at}.name", f"expected a name of a-z, 0-9, _ and -, got {show(one.name)}")
        elif name in seen:
            bad(
                f"{at}.name",
                f"expected each schedule named once: {show(name)} is also {seen[name]}'s; "
                'give each a name (name = "nightly")',
            )
        seen.setdefault(name, at)
