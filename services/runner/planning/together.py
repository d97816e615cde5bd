"""Both sides of an object type read at once: one side often waits on a server, a disk or
a thread while the other is mapped, so their reads overlap instead of adding up.

Nothing else changes: each side's records are gathered into their own list as before,
and a failure is the one a read in turn would give — the source's first (the
destination's read is then stopped), else the destination's.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Coroutine
from typing import Any, TypeVar

A = TypeVar("A")
B = TypeVar("B")


async def both(first: Coroutine[Any, Any, A], second: Coroutine[Any, Any, B]) -> tuple[A, B]:
    """`first` and `second` run together; their results, or `first`'s error before
    `second`'s (which is then cancelled)."""
    later = asyncio.ensure_future(second)
    try:
        one = await first
    except BaseException:
        later.cancel()
        with contextlib.suppress(Exception, asyncio.CancelledError):
            await later
        raise
    return one, await later
