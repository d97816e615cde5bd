"""The dashboard's summaries besides runs in progress and the jobs table: jobs by object
type with how their last runs went, what runs next on its own (the scheduler's fire
times, core/schedules.py), the pinned jobs and collections, and a chart of runs and
changes over the last 30 days (SVG drawn here: the browser loads no chart library)."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from typing import Any

from core.activity import Day, daily
from core.runs import RunStory
from core.upcoming import next_run, schedule_text
from schemas.jobs import Job
from services.common.bus import Bus

DAYS = 30
NEXT = 10
"""The next runs listed."""
WIDTH, HEIGHT, GAP = 600, 90, 2
"""Each of the chart's two rows of bars (SVG user units), the space between bars."""
OUTCOMES = ("finished", "finished with errors", "failed")


async def summaries(
    bus: Bus, jobs: list[Job], last: dict[str, RunStory], month: list[RunStory], now: datetime
) -> dict[str, Any]:
    """The dashboard's summaries: jobs by type (with `last`, each job's last run),
    scheduled and pinned ones, and the chart of the runs of the last DAYS (`month`)."""
    collections = await bus.store.collections()
    scheduled = [("job", job) for job in jobs] + [("collection", c) for c in collections]
    upcoming = []
    for kind, target in scheduled:
        at = next_run(target, now)
        if at is not None:
            upcoming.append(
                {"kind": kind, "id": target.id, "title": target.display_title,
                 "when": schedule_text(target), "next_run": at}
            )  # fmt: skip
    upcoming.sort(key=lambda row: (row["next_run"], row["id"]))
    pinned = [("job", j.id, j.display_title) for j in jobs if j.pinned]
    pinned += [("collection", c.id, c.display_title) for c in collections if c.pinned]
    return {
        "by_type": by_type(jobs, last),
        "upcoming": upcoming[:NEXT],
        "pinned": [{"kind": k, "id": i, "title": t} for k, i, t in sorted(pinned)],
        "chart": chart(daily(month, now.date(), DAYS)),
    }


def by_type(jobs: Iterable[Job], last: dict[str, RunStory]) -> list[dict[str, Any]]:
    """Per object type: its jobs, and how many last ended finished, with errors, failed
    (a job of several types counts under each)."""
    rows: dict[str, dict[str, Any]] = {}
    for job in jobs:
        story = last.get(job.id)
        outcome = story.state if story is not None and story.state in OUTCOMES else "other"
        for kind in sorted({mapping.type for mapping in job.objects}):
            row = rows.setdefault(kind, {"type": kind, "jobs": 0, **dict.fromkeys(OUTCOMES, 0)})
            row["jobs"] += 1
            if outcome != "other":
                row[outcome] += 1
    return [rows[kind] for kind in sorted(rows)]


def chart(days: list[Day]) -> dict[str, Any]:
    """Bars for the runs (top row) and the changes (bottom row) of each day, scaled to
    the highest day of each."""
    most_runs = max((d.runs for d in days), default=0)
    most_changes = max((d.changes for d in days), default=0)
    step = WIDTH / max(len(days), 1)
    bars = []
    for index, day in enumerate(days):
        runs = round(HEIGHT * day.runs / most_runs, 1) if most_runs else 0
        changes = round(HEIGHT * day.changes / most_changes, 1) if most_changes else 0
        bars.append(
            {
                "x": round(index * step + GAP / 2, 1),
                "width": round(step - GAP, 1),
                "runs_height": runs,
                "changes_height": changes,
                "day": day,
            }
        )
    return {
        "width": WIDTH,
        "height": HEIGHT,
        "bars": bars,
        "most_runs": most_runs,
        "most_changes": most_changes,
        "runs": sum(d.runs for d in days),
        "changes": sum(d.changes for d in days),
        "first": days[0].day if days else None,
        "last": days[-1].day if days else None,
    }
