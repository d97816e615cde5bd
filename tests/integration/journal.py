"""Waiting on the journal, the way an operator would look at it."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable

from schemas.events import Event
from services.cli.client import Session


async def wait_for_event(
    session: Session, match: Callable[[Event], bool], timeout: float = 30.0
) -> Event:
    """The first journal event that matches, polling until `timeout`."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        for event in await session.journal():
            if match(event):
                return event
        await asyncio.sleep(0.1)
    raise AssertionError(f"no matching event in the journal within {timeout}s")


async def events_of_run(session: Session, run_id: str) -> list[Event]:
    return [event for event in await session.journal() if event.run_id == run_id]
