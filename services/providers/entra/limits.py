"""Keeping under Graph's limits on our side: a process-wide pace per app and tenant for
writes and for every request, paused for everyone when Graph says to wait (429 with
Retry-After), and the back-off of a request that must be tried again.

Graph counts each request of a $batch on its own (learn.microsoft.com/graph/throttling),
so a $batch of 20 writes takes 20 writes' room. The pace (providers/pacing.py) lets a
second's worth go at once and no more, so the average stays under the ceiling."""

from __future__ import annotations

import asyncio
import random
from dataclasses import dataclass

from schemas.connections import EntraConnection

from ..pacing import Pace

BACKOFF_FIRST = 1.0
BACKOFF_MOST = 60.0


@dataclass
class Limits:
    writes: Pace
    requests: Pace
    throttled: int = 0
    """429 answers seen (for the logs and the benchmark)."""

    async def take(self, writes: int, requests: int) -> None:
        wait = max(
            self.writes.book(writes) if writes else 0.0,
            self.requests.book(requests) if requests else 0.0,
        )
        if wait > 0:
            await asyncio.sleep(wait)

    def told_to_wait(self, seconds: float, *, writes_only: bool) -> None:
        self.throttled += 1
        self.writes.pause(seconds)
        if not writes_only:
            self.requests.pause(seconds)


_shared: dict[tuple[str, str, str], Limits] = {}


def limits_for(connection: EntraConnection) -> Limits:
    """One pace per app and tenant in this process, whatever batches run at once."""
    key = (connection.graph, connection.tenant.lower(), connection.client_id)
    found = _shared.get(key)
    wanted = (connection.limits.writes_per_second, connection.limits.requests_per_second)
    if found is None or (found.writes.rate, found.requests.rate) != wanted:
        found = Limits(Pace(wanted[0]), Pace(wanted[1]))
        _shared[key] = found
    return found


def backoff(attempt: int, retry_after: float | None) -> float:
    """Seconds before trying again: what Graph said, else 1, 2, 4… s (at most a minute)
    with some jitter so that many waiting requests do not come back together."""
    if retry_after is not None:
        return min(max(retry_after, 0.0), 300.0)
    base: float = min(BACKOFF_MOST, BACKOFF_FIRST * 2.0 ** max(0, attempt - 1))
    return base * (0.5 + random.random() / 2)


def retry_after(headers: dict[str, str]) -> float | None:
    for name, value in headers.items():
        if name.lower() == "retry-after":
            try:
                return float(value)
            except ValueError:
                return None
    return None
