"""A background loop stops when its task is cancelled, even when a step lost the request."""

from __future__ import annotations

import asyncio
import contextlib

import pytest

from services.common.loops import idle


async def _step_that_swallows_cancellation(started: asyncio.Event) -> None:
    """As `asyncio.wait_for` can on Python 3.11: the cancellation caught and dropped."""
    started.set()
    with contextlib.suppress(asyncio.CancelledError):
        await asyncio.sleep(0.2)


async def _loop(started: asyncio.Event, steps: list[int], wait: float) -> None:
    while True:
        with contextlib.suppress(Exception):  # as the services' loops: a failed step retried
            await _step_that_swallows_cancellation(started)
        steps.append(1)
        await idle(wait)


async def test_a_loop_whose_step_lost_the_cancellation_stops_at_its_next_idle() -> None:
    started = asyncio.Event()
    steps: list[int] = []
    task = asyncio.create_task(_loop(started, steps, wait=60.0))
    await started.wait()
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await asyncio.wait_for(task, 2.0)
    assert steps == [1], "the step under way ends, and no other begins"


async def test_idle_sleeps_when_nothing_asked_it_to_stop() -> None:
    steps: list[int] = []
    task = asyncio.create_task(_loop(asyncio.Event(), steps, wait=0.0))
    while len(steps) < 3:
        await asyncio.sleep(0.05)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
