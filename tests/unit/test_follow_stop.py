"""Ctrl-C stops `idsync tail` and `idsync job run --wait` even when it comes with an
event: on Python 3.11 `asyncio.wait_for` then returns the event and drops the
cancellation, and a loop that waits again would follow until the next Ctrl-C."""

from __future__ import annotations

import argparse
import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from types import SimpleNamespace
from typing import Any

import pytest

from services.cli import tail as tail_command
from services.cli.watch import follow_run


class Watched(asyncio.Queue[Any]):
    """A queue that says when someone waits on it."""

    def __init__(self) -> None:
        super().__init__()
        self.waiting = asyncio.Event()

    async def get(self) -> Any:
        self.waiting.set()
        return await super().get()


class FakeSession:
    """What the two loops use of a session: the subscription's queue, a connection that
    stays up, a run request and the journal."""

    def __init__(self) -> None:
        self.queue = Watched()
        self.nc = SimpleNamespace(is_connected=True, is_closed=False)
        self.settings = SimpleNamespace(wait_reconnect=60.0)

    @asynccontextmanager
    async def follow(self, *subjects: str) -> AsyncIterator[Watched]:
        yield self.queue

    async def request_run(self, *args: object) -> str:
        return "the-run"

    async def journal(self, subject: str) -> list[object]:
        return []


async def interrupt_with_an_event(task: asyncio.Task[Any], session: FakeSession) -> None:
    """The event and the Ctrl-C in the same turn of the loop, the loop waiting on both."""
    await session.queue.waiting.wait()
    session.queue.put_nowait(SimpleNamespace(run_id="another-run", type="run.requested"))
    task.cancel()


async def test_tail_stops_on_a_ctrl_c_that_comes_with_an_event(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    session = FakeSession()

    @asynccontextmanager
    async def connect(settings: object, patient: bool = False) -> AsyncIterator[FakeSession]:
        yield session

    monkeypatch.setattr(tail_command, "connect", connect)
    monkeypatch.setattr(tail_command, "session_json", lambda event: '{"type": "run.requested"}')
    args = argparse.Namespace(job=None, json=True, settings=None)
    task = asyncio.create_task(tail_command.tail(args))
    await interrupt_with_an_event(task, session)
    assert await asyncio.wait_for(task, 5) == 0
    assert capsys.readouterr().err.startswith("following ")


async def test_job_run_wait_stops_on_a_ctrl_c_that_comes_with_an_event() -> None:
    session = FakeSession()
    task = asyncio.create_task(follow_run(session, "hr-to-db", None))  # type: ignore[arg-type]
    await interrupt_with_an_event(task, session)
    with pytest.raises(asyncio.CancelledError):
        await asyncio.wait_for(task, 5)
