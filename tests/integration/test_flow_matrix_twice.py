"""Two runs of one job asked for at once: never two at once, so that each record is
created once — in the table and in what the runs say they did."""

from __future__ import annotations

import asyncio
import contextlib
import sqlite3
from collections.abc import Callable
from typing import Any

import pytest

from core.errors import BadInput
from schemas.events import Event, RunFinished, RunPlanned, is_end
from services.cli.client import Session
from services.runner import work

from .conftest import JOB_ID, Files, RunServices, apply_files
from .journal import wait_for_event


async def test_two_runs_of_one_job_asked_at_once_create_each_record_once(
    files: Files, services: RunServices, session: Session, monkeypatch: pytest.MonkeyPatch
) -> None:
    files.write(count=40, batch_size=10)
    both_planned = asyncio.Event()
    real_write = work._write

    async def held(*args: Any, **kwargs: Any) -> Any:
        # The batches wait until both runs are planned (or for a while, should the second
        # never be: refused, or held back until the first has ended).
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(both_planned.wait(), 3)
        return await real_write(*args, **kwargs)

    monkeypatch.setattr(work, "_write", held)
    async with services("workflow", "runner", "recorder"):
        await apply_files(session, files)
        asked = await asyncio.gather(
            session.request_run(JOB_ID), session.request_run(JOB_ID), return_exceptions=True
        )
        runs = [r for r in asked if isinstance(r, str)]
        assert all(isinstance(r, (str, BadInput)) for r in asked), asked
        with contextlib.suppress(AssertionError):
            for run_id in runs:
                await wait_for_event(session, planned(run_id), 5)
        both_planned.set()
        ends = [await wait_for_event(session, ended(r), 60) for r in runs]
    with sqlite3.connect(files.db) as conn:
        rows = int(conn.execute("SELECT count(*) FROM people").fetchone()[0])
    assert rows == 40
    created = sum(e.stats.created for e in ends if isinstance(e, RunFinished))
    assert created == 40, [e.stats for e in ends if isinstance(e, RunFinished)]


def planned(run_id: str) -> Callable[[Event], bool]:
    return lambda e: isinstance(e, RunPlanned) and e.run_id == run_id


def ended(run_id: str) -> Callable[[Event], bool]:
    return lambda e: is_end(e) and e.run_id == run_id
