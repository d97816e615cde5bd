"""Both sides read at once (services/runner/planning/together.py): the same results as
reading them in turn, the source's error first, nothing left running after a failure."""

from __future__ import annotations

import asyncio

import pytest

from core.errors import BadInput
from services.runner.planning.together import both


def test_both_sides_run_at_once_and_give_their_results() -> None:
    async def scenario() -> tuple[str, str]:
        destination_started = asyncio.Event()

        async def source() -> str:
            await destination_started.wait()  # only possible if the other side runs too
            return "source"

        async def destination() -> str:
            destination_started.set()
            return "destination"

        return await asyncio.wait_for(both(source(), destination()), 5)

    assert asyncio.run(scenario()) == ("source", "destination")


def test_the_source_error_comes_first_even_when_the_destination_failed_before() -> None:
    async def scenario() -> None:
        destination_failed = asyncio.Event()

        async def source() -> str:
            await destination_failed.wait()
            raise BadInput("the source has no field 'mail'")

        async def destination() -> str:
            destination_failed.set()
            raise BadInput("the table does not exist")

        await both(source(), destination())

    with pytest.raises(BadInput, match="the source has no field"):
        asyncio.run(scenario())


def test_a_failed_source_stops_the_destination_read() -> None:
    stopped: list[bool] = []

    async def scenario() -> None:
        async def source() -> str:
            await asyncio.sleep(0)
            raise BadInput("bad source")

        async def destination() -> str:
            try:
                await asyncio.Event().wait()  # a read that would never end
            except asyncio.CancelledError:
                stopped.append(True)
                raise
            return "never"

        await both(source(), destination())

    with pytest.raises(BadInput, match="bad source"):
        asyncio.run(scenario())
    assert stopped == [True]


def test_the_destination_error_when_the_source_read_well() -> None:
    async def scenario() -> None:
        async def source() -> str:
            return "source"

        async def destination() -> str:
            raise BadInput("the table does not exist")

        await both(source(), destination())

    with pytest.raises(BadInput, match="the table does not exist"):
        asyncio.run(scenario())
