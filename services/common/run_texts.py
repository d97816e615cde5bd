"""A run's statistics and duration as people read them: one wording for the command line
and the mails."""

from __future__ import annotations

from schemas.plan import RunStats

STAT_NAMES = (
    "read",
    "created",
    "updated",
    "deleted",
    "disabled",
    "moved",
    "enabled",
    "unchanged",
    "skipped",
    "failed",
)
"""The statistics shown, in this order (`enabled`: objects restored)."""


def stats_line(stats: RunStats) -> str:
    """ "300 read, 1 created, 1 updated, …" — every statistic, none left out."""
    return ", ".join(f"{getattr(stats, name)} {name}" for name in STAT_NAMES)


def duration(seconds: float) -> str:
    """ "42 ms", "3.2 s", "2 min 05 s", "1 h 02 min": a fast run is not "0.0 s"."""
    if seconds < 1:
        return f"{seconds * 1000:.0f} ms"
    if seconds < 60:
        return f"{seconds:.1f} s"
    minutes, rest = divmod(round(seconds), 60)
    hours, minutes = divmod(minutes, 60)
    return f"{hours} h {minutes:02d} min" if hours else f"{minutes} min {rest:02d} s"
