"""A job's run whose batch waits as a dead letter keeps its job: the runs asked for
meanwhile wait (one of them cancelled meanwhile), and once the dead letter is retried or
dropped and the run has ended, the next one runs."""

from __future__ import annotations

from typing import Literal

import msgspec
import pytest

from schemas.commands import DeadLetterCommand
from schemas.events import RunCancelled, RunDeadLetter, RunPlanned
from services.cli.client import Session
from services.common.claims import Claims
from services.common.deadletters import dead_letters
from services.common.settings import Settings

from .conftest import JOB_ID, Files, RunServices
from .journal import wait_for_event
from .test_claims import end_of, finished, of, position, queued, rows, story
from .test_delivery import locked
from .test_operations import impatient_job


@pytest.fixture
def settings(settings: Settings) -> Settings:
    return msgspec.structs.replace(settings, max_deliver=2, retry_delay=0.2)


@pytest.mark.parametrize("then", ["retry", "drop"])
async def test_runs_waiting_behind_a_dead_letter_run_once_it_is_retried_or_dropped(
    files: Files,
    session: Session,
    services: RunServices,
    monkeypatch: pytest.MonkeyPatch,
    then: Literal["retry", "drop"],
) -> None:
    await impatient_job(files, session, monkeypatch, count=6)
    async with services("workflow", "runner"):
        with locked(files.db):
            holder = await session.request_run(JOB_ID)
            await wait_for_event(session, of(RunDeadLetter, holder), 30)
            withdrawn = await session.request_run(JOB_ID)
            await queued(session, withdrawn, holder)
            later = await session.request_run(JOB_ID)
            await queued(session, later, holder)
            await session.decide("cancel", withdrawn)  # while the holder sits in dead letters
            await wait_for_event(session, end_of(withdrawn), 10)
        assert (await story(session, later)).state == f"waiting: run {holder}"
        [letter] = await dead_letters(session.js)
        await session.command("deadletter", DeadLetterCommand(action=then, seq=letter.seq))
        ended = await wait_for_event(session, end_of(holder), 30)
        end = await finished(session, later)
        journal = await session.journal()
    assert not isinstance(ended, RunCancelled), ended
    assert position(journal, end_of(holder)) < position(journal, of(RunPlanned, later))
    assert "run.planned" not in (await story(session, withdrawn)).events
    assert rows(files) == 6
    assert end.stats.created == (0 if then == "retry" else 6), end.stats
    claim = await Claims(session.js).get(JOB_ID)
    assert claim is not None and claim.run_id == "" and claim.queue == [], claim
