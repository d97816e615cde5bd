"""The cycle collector, paused where a run allocates by the hundred thousand.

Planning and preparing batches build hundreds of thousands of small records, none in a
reference cycle; left on, the collector rescans all of them each time the heap has grown
by a quarter. Reference counting still frees everything acyclic meanwhile; the few
cycles made while paused (asyncio's own) are collected when it resumes.
"""

from __future__ import annotations

import gc
from collections.abc import Iterator
from contextlib import contextmanager

THRESHOLDS = (50_000, 20, 20)
"""The services' collector thresholds: runs hold hundreds of thousands of small records,
none in a reference cycle, and a larger first generation spares the collector from
rescanning them all the time (set by services/common/host.py)."""


class _Pauses:
    """Pauses in force (entered and left on the event loop's thread), and whether the
    collector was on before the first."""

    count = 0
    was_on = True


@contextmanager
def collector_paused() -> Iterator[None]:
    """No cycle collection in the block. Pauses may nest and overlap (a batch applied
    while another run plans): the collector resumes when the last one ends, if it was
    on before the first."""
    if _Pauses.count == 0:
        _Pauses.was_on = gc.isenabled()
        gc.disable()
    _Pauses.count += 1
    try:
        yield
    finally:
        _Pauses.count -= 1
        if _Pauses.count == 0 and _Pauses.was_on:
            gc.enable()
