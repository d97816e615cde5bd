"""The cycle collector, paused where a run allocates by the hundred thousand.

Planning and preparing batches build hundreds of thousands of small records, none in a
reference cycle; left on, the collector rescans all of them each time the heap has grown
by a quarter. Reference counting still frees everything acyclic meanwhile; the few
cycles made while paused (asyncio's own) are collected when it resumes.

Pauses end where what they made has been let go: a run's plan once it is stored and its
first batches are out, a batch once it is applied. A collector resumed while the objects
are still held scans every one of them once, at once (a plan's 100,000 spilled creates:
some 70 ms); resumed after, it finds them gone.
"""

from __future__ import annotations

import gc
from collections.abc import Iterator
from contextlib import contextmanager
from time import monotonic

THRESHOLDS = (50_000, 20, 20)
"""The services' collector thresholds: runs hold hundreds of thousands of small records,
none in a reference cycle, and a larger first generation spares the collector from
rescanning them all the time (set by services/common/host.py)."""
LONGEST = 30.0
"""Seconds the collector stays paused at most while pauses keep overlapping (a runner's
batches applied side by side, one after another): then, as one of them ends, it collects
what was made meanwhile once, and the pause goes on."""


class _Pauses:
    """Pauses in force (entered and left on the event loop's thread), whether the
    collector was on before the first, and since when it has not collected."""

    count = 0
    was_on = True
    since = 0.0


@contextmanager
def collector_paused() -> Iterator[None]:
    """No cycle collection in the block. Pauses may nest and overlap (a batch applied
    while another run plans): the collector resumes when the last one ends, if it was
    on before the first — or, paused longer than LONGEST, collects once as one ends."""
    if _Pauses.count == 0:
        _Pauses.was_on = gc.isenabled()
        _Pauses.since = monotonic()
        gc.disable()
    _Pauses.count += 1
    try:
        yield
    finally:
        _Pauses.count -= 1
        if _Pauses.count == 0:
            if _Pauses.was_on:
                gc.enable()
        elif _Pauses.was_on and monotonic() - _Pauses.since > LONGEST:
            gc.collect(0)  # the cycles made while paused are all in the first generation
            _Pauses.since = monotonic()
