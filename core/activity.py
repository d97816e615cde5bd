"""Runs and changes per day, for the dashboard's chart (pure: the day is passed in): each
run counted on the day it was asked for, its changes (created, updated, deleted,
disabled, moved, enabled) with it."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import date, timedelta

import msgspec

from core.runs import RunStory


class Day(msgspec.Struct, frozen=True, kw_only=True):
    day: date
    runs: int = 0
    changes: int = 0
    failed: int = 0
    """Runs that ended failed (or with a failed record)."""


def changes_of(story: RunStory) -> int:
    stats = story.stats
    return (
        stats.created + stats.updated + stats.deleted + stats.disabled + stats.moved + stats.enabled
    )


def daily(stories: Iterable[RunStory], today: date, days: int = 30) -> list[Day]:
    """The last `days` days up to `today`, oldest first, each with its runs' counts."""
    first = today - timedelta(days=days - 1)
    runs = dict.fromkeys(range(days), 0)
    changes = dict.fromkeys(range(days), 0)
    failed = dict.fromkeys(range(days), 0)
    for story in stories:
        if story.requested_at is None:
            continue
        index = (story.requested_at.date() - first).days
        if not 0 <= index < days:
            continue
        runs[index] += 1
        changes[index] += changes_of(story)
        if story.state == "failed" or story.stats.failed:
            failed[index] += 1
    return [
        Day(day=first + timedelta(days=i), runs=runs[i], changes=changes[i], failed=failed[i])
        for i in range(days)
    ]
