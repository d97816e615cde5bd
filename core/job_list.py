"""`idsync job list`'s filters and orders, as functions of the jobs and their runs' stories
(core/runs.py): pure, so the listing and its tests agree."""

from __future__ import annotations

import fnmatch
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Literal

from schemas.jobs import Job

from .runs import RunStory

Order = Literal["id", "last-run", "times-run"]
ORDERS: tuple[Order, ...] = ("id", "last-run", "times-run")
NEVER = "never"
"""The outcome of a job that never ran."""


@dataclass(frozen=True)
class Listed:
    job: Job
    last: RunStory | None
    """Its latest run (by request time)."""
    times_run: int

    @property
    def outcome(self) -> str:
        return self.last.state if self.last is not None else NEVER


@dataclass(frozen=True)
class Filters:
    name: str | None = None
    """Part of the id or the title (case ignored), or a pattern with * and ?."""
    source: str | None = None
    """The source's connection id."""
    destination: str | None = None
    owner: str | None = None
    enabled: bool | None = None
    outcome: str | None = None
    """The latest run's state: finished, "finished with errors", failed, cancelled, denied,
    expired, running, … or never."""

    def keep(self, item: Listed) -> bool:
        job = item.job
        return (
            (self.name is None or _named(job, self.name))
            and (self.source is None or job.source.connection == self.source)
            and (self.destination is None or job.destination.connection == self.destination)
            and (self.owner is None or self.owner.casefold() in {o.casefold() for o in job.owners})
            and (self.enabled is None or job.enabled == self.enabled)
            and (self.outcome is None or item.outcome == self.outcome.strip().lower())
        )


def _named(job: Job, wanted: str) -> bool:
    texts = (job.id.casefold(), job.title.casefold())
    pattern = wanted.casefold()
    if any(mark in pattern for mark in "*?["):
        return any(fnmatch.fnmatchcase(text, pattern) for text in texts)
    return any(pattern in text for text in texts)


def listing(
    jobs: Iterable[Job],
    stories: Iterable[RunStory],
    filters: Filters | None = None,
    order: Order = "id",
) -> list[Listed]:
    """The jobs that pass `filters`, each with its latest run and how often it ran, in
    `order`: by id, by latest run (most recent first; never-run last), by times run (most
    first), pinned jobs before the others. Ties by id."""
    runs: dict[str, list[RunStory]] = {}
    for story in stories:
        runs.setdefault(story.job_id, []).append(story)
    found = []
    for job in jobs:
        mine = sorted(
            runs.get(job.id, []), key=lambda s: (s.requested_at or datetime.min, s.run_id)
        )
        found.append(Listed(job=job, last=mine[-1] if mine else None, times_run=len(mine)))
    kept = [item for item in found if (filters or Filters()).keep(item)]
    kept.sort(key=lambda item: item.job.id)
    if order == "last-run":
        kept.sort(key=_last_time, reverse=True)
    elif order == "times-run":
        kept.sort(key=lambda item: item.times_run, reverse=True)
    kept.sort(key=lambda item: not item.job.pinned)  # pinned first, each group in order
    return kept


def _last_time(item: Listed) -> float:
    at = item.last.requested_at if item.last is not None else None
    return at.timestamp() if at is not None else float("-inf")
