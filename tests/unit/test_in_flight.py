"""Batches saved and queued side by side (services/runner/plans.py `InFlight`): never
more at once than the limit, every one awaited, the first error raised once all ended."""

from __future__ import annotations

import asyncio

import pytest

from services.runner.plans import InFlight


async def test_at_most_the_limit_run_at_once_and_all_are_awaited() -> None:
    running, most, done = 0, 0, []

    async def work(n: int) -> None:
        nonlocal running, most
        running += 1
        most = max(most, running)
        await asyncio.sleep(0)
        running -= 1
        done.append(n)

    async with InFlight(3) as flight:
        for n in range(10):
            await flight.start(work(n))

    assert most == 3
    assert sorted(done) == list(range(10))


async def test_an_error_is_raised_after_the_others_ended() -> None:
    ended: list[int] = []

    async def work(n: int) -> None:
        await asyncio.sleep(0.01 if n else 0)
        if n == 0:
            raise RuntimeError("refused")
        ended.append(n)

    with pytest.raises(RuntimeError, match="refused"):
        async with InFlight(4) as flight:
            for n in range(3):
                await flight.start(work(n))

    assert sorted(ended) == [1, 2]  # started before the error was seen: each ran to its end
