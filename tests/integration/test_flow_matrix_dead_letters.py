"""A run waiting on a dead letter, cancelled, and then its batch retried or dropped: the
run stays cancelled — in its events, in `idsync run show` — and nothing is applied."""

from __future__ import annotations

import asyncio
import contextlib
from typing import Literal

import msgspec
import pytest

from core.errors import BadInput
from core.runs import fold
from schemas.commands import DeadLetterCommand
from schemas.events import RunCancelled, RunDeadLetter, is_end
from services.cli.client import Session
from services.common.deadletters import dead_letters
from services.common.settings import Settings

from .conftest import JOB_ID, Files, RunServices
from .journal import events_of_run, wait_for_event
from .test_delivery import locked
from .test_flow_matrix_races import _rows as rows
from .test_operations import impatient_job


@pytest.fixture
def settings(settings: Settings) -> Settings:
    return msgspec.structs.replace(settings, max_deliver=2, retry_delay=0.2)


@pytest.mark.parametrize("then", ["retry", "drop"])
async def test_a_run_cancelled_while_it_waits_on_a_dead_letter_stays_cancelled(
    files: Files,
    session: Session,
    services: RunServices,
    monkeypatch: pytest.MonkeyPatch,
    then: Literal["retry", "drop"],
) -> None:
    await impatient_job(files, session, monkeypatch, count=10)
    async with services("workflow", "runner"):
        with locked(files.db):
            run_id = await session.request_run(JOB_ID)
            await wait_for_event(
                session, lambda e: isinstance(e, RunDeadLetter) and e.run_id == run_id
            )
        await session.decide("cancel", run_id, "the export was wrong")
        [letter] = await dead_letters(session.js)
        with contextlib.suppress(BadInput):  # refused is as good: the run has ended
            await session.command("deadletter", DeadLetterCommand(action=then, seq=letter.seq))
        await wait_for_event(session, lambda e: isinstance(e, RunCancelled) and e.run_id == run_id)
        await asyncio.sleep(1.0)  # time for the retried batch to (wrongly) be applied
        events = await events_of_run(session, run_id)
    assert [type(e).__name__ for e in events if is_end(e)] == ["RunCancelled"]
    told = fold(events)[0]
    assert told.state == "cancelled", (told.state, told.events)
    assert rows(files) == 0
