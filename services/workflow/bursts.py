"""Run requests from other systems, merged: a burst for one job is one run (pure).

A system that reports changes one by one (ten people edited in a second) should not
start ten runs. The first request for a job opens a window of IDSYNC_MERGE_WINDOW
seconds and gets a new run id; every request for that job inside the window gets the
same id and adds its keys. When the window closes, one `run.requested` goes out with
the keys of them all — or none (the whole job) if any request named none.

A run's request is one message: a burst takes keys only as long as they fit in `room`
bytes. A request whose keys would make it overflow opens the next burst of the job (a new
run id), and the full one goes out when its window closes, before it.

The open windows are kept in memory: a workflow that stops sends their requests at once,
its windows cut short; one killed inside a window loses them (their senders hold a run
id no event ever names, and ask again).
"""

from __future__ import annotations

from datetime import datetime, timedelta

import msgspec

from schemas.commands import keys_size
from schemas.ids import new_run_id


class Burst(msgspec.Struct, kw_only=True):
    run_id: str
    job_id: str
    requested_by: str
    opened_at: datetime
    keys: list[str] | None
    """None: the whole job."""
    changed_only: bool = False
    """Only the records changed since the last run — when every request asked for that."""
    requests: int = 1
    others: list[str] = msgspec.field(default_factory=list)
    """Other systems whose requests were merged into this run."""


class Bursts:
    def __init__(self, window: float) -> None:
        self.window = timedelta(seconds=window)
        self.open: dict[str, Burst] = {}

    def add(
        self,
        job_id: str,
        principal: str,
        keys: list[str] | None,
        now: datetime,
        changed_only: bool = False,
        room: int | None = None,
    ) -> str:
        """The run id this request belongs to. `room`: the most bytes a run's keys may
        take (`keys_size`) — the request itself must fit (the caller checks that)."""
        burst = self.open.get(job_id)
        merged: list[str] | None = None
        full = False
        if burst is not None and burst.keys is not None and keys is not None:
            merged = _unique(burst.keys + keys)
            full = room is not None and keys_size(merged) > room
        if burst is None or now >= burst.opened_at + self.window or full:
            burst = Burst(
                run_id=new_run_id(),
                job_id=job_id,
                requested_by=principal,
                opened_at=now,
                keys=_unique(keys) if keys is not None else None,
                changed_only=changed_only,
            )
            if job_id in self.open:  # a closed window (or full) not yet sent: it goes first
                self.open[f"{job_id}#{burst.run_id}"] = self.open.pop(job_id)
            self.open[job_id] = burst
            return burst.run_id
        burst.requests += 1
        burst.changed_only = burst.changed_only and changed_only
        if principal != burst.requested_by and principal not in burst.others:
            burst.others.append(principal)
        if burst.keys is not None:
            burst.keys = merged  # None when this request named no keys: the whole job
        return burst.run_id

    def due(self, now: datetime) -> list[Burst]:
        """The bursts whose window has closed, oldest first (still held until `sent`)."""
        return sorted(
            (b for b in self.open.values() if now >= b.opened_at + self.window),
            key=lambda b: b.opened_at,
        )

    def sent(self, burst: Burst) -> None:
        for name, held in list(self.open.items()):
            if held is burst:
                del self.open[name]


def _unique(keys: list[str]) -> list[str]:
    return list(dict.fromkeys(keys))
