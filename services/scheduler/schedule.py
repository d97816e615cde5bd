"""When schedules are due: pure functions of the clock, no I/O.

Fire times are aligned to multiples of the interval since the epoch, so every
scheduler computes the same fire time — and so the same run id — for a job.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta


def current_slot(now: datetime, every: float) -> datetime:
    """The latest fire time at or before `now`."""
    seconds = now.timestamp()
    return datetime.fromtimestamp(seconds - (seconds % every), tz=UTC)


def next_fire(now: datetime, every: float) -> datetime:
    """The first fire time after `now`: when a running scheduler next requests a run."""
    return current_slot(now, every) + timedelta(seconds=every)


class Fired:
    """The last fire time per job. A job seen for the first time is not fired at once:
    its first fire is the next aligned time."""

    def __init__(self) -> None:
        self._last: dict[str, datetime] = {}

    def due(self, job_id: str, now: datetime, every: float) -> tuple[datetime | None, int]:
        """The fire time due now (or None) and how many fire times were missed before it."""
        slot = current_slot(now, every)
        last = self._last.setdefault(job_id, slot)
        if slot <= last:
            return None, 0
        self._last[job_id] = slot
        missed = round((slot - last).total_seconds() / every) - 1
        return slot, max(missed, 0)

    def forget(self, known: set[str]) -> None:
        for job_id in set(self._last) - known:
            del self._last[job_id]
