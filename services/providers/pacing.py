"""A client-side request-rate ceiling, one implementation for every provider that keeps
under a service's limits itself (Entra's writes and requests, a SCIM service's requests):
at most `rate` units a second on average, a second's worth at once after a quiet spell,
and a pause for everyone when the service says to wait (429 with Retry-After).

Virtual scheduling: each booking moves the time the next unit is due; no lock, so one pace
serves any event loop, and the check and the booking never await. The clock and the
sleep can be given (tests use a controlled clock)."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

SLACK = 1.0
"""Seconds of the pace that may be used at once after a quiet spell."""


@dataclass
class Pace:
    """At most `rate` units a second on average, a second's worth at once."""

    rate: float
    clock: Callable[[], float] = time.monotonic
    sleep: Callable[[float], Awaitable[None]] = asyncio.sleep
    due: float | None = None
    """When the next unit is due (None: nothing booked yet)."""
    paused_until: float = 0.0

    def book(self, units: int) -> float:
        """Books `units` now; the seconds to wait before sending them."""
        now = self.clock()
        due = now if self.due is None else self.due
        start = max(now, due - SLACK, self.paused_until)
        self.due = max(due, start) + units / self.rate
        return start - now

    def pause(self, seconds: float) -> None:
        """No unit goes before `seconds` from now (the service said to wait)."""
        self.paused_until = max(self.paused_until, self.clock() + seconds)

    async def take(self, units: int = 1) -> None:
        """Waits until `units` may be sent."""
        wait = self.book(units)
        if wait > 0:
            await self.sleep(wait)


_shared: dict[tuple[str, ...], Pace] = {}


def shared_pace(key: tuple[str, ...], rate: float) -> Pace:
    """One pace per `key` (a service and the identity it is asked as) in this process,
    whatever providers and batches use it at once; a new one when the rate changes."""
    found = _shared.get(key)
    if found is None or found.rate != rate:
        found = Pace(rate)
        _shared[key] = found
    return found
