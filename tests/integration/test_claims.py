"""One run of a job at a time, whatever asked for it: a run asked for while another of its
job goes on — a person's, a schedule's, one scoped to keys, a collection's step — waits
("waiting: run R") and plans once the runs before it have ended, against what they left;
the job is free again once its run has finished, failed, been cancelled, denied or
expired, also when the workflow was stopped meanwhile or missed that end.

Most tests hold the first run without a runner: the workflow approves it, and it goes on
(approved, not planned) until a runner starts."""

from __future__ import annotations

import asyncio
import signal
import sqlite3
from collections.abc import AsyncIterator, Callable
from datetime import timedelta
from typing import Any

import msgspec
import pytest

from core.claims import QUEUED, JobClaim
from core.errors import BadInput
from core.runs import RunStory, fold
from schemas.collections import Collection, CollectionStep
from schemas.events import (
    Event,
    RunApproved,
    RunAwaitingApproval,
    RunFailed,
    RunFinished,
    RunPlanned,
    RunQueued,
    RunRequested,
    ScheduleSkipped,
    is_end,
)
from schemas.ids import new_run_id, scheduled_run_id, utcnow
from services.cli.client import Session, connect
from services.common.bus import Bus, make_broker
from services.common.claims import Claims
from services.common.definitions import load_job
from services.common.runs import Runs, RunState
from services.common.settings import Settings
from services.runner import run as runner_run
from services.workflow.approvals import Expiry
from services.workflow.claims import check_claims, gate_request

from .conftest import JOB_ID, Files, RunServices, apply_files
from .journal import wait_for_event
from .processes import once_started, service_process
from .test_cli import idsync
from .test_collections import ended as collection_ended
from .test_schedules import HOUR, buses, clock, events, first_seen, hour_of

__all__ = ["buses"]  # the fixture, from the schedules' tests

APPROVAL = 'approval = { approvers = ["bob"], expire_after = "1h" }\n'


def rows(files: Files) -> int:
    with sqlite3.connect(files.db) as conn:
        return int(conn.execute("SELECT count(*) FROM people").fetchone()[0])


def of(kind: type[Event], run_id: str) -> Callable[[Event], bool]:
    return lambda e: isinstance(e, kind) and e.run_id == run_id


def end_of(run_id: str) -> Callable[[Event], bool]:
    return lambda e: is_end(e) and e.run_id == run_id


async def story(session: Session, run_id: str) -> RunStory:
    """The run as `idsync run show` tells it."""
    return next(r for r in fold(await session.journal()) if r.run_id == run_id)


async def queued(session: Session, run_id: str, behind: str) -> RunStory:
    """The run waits for `behind`, as the journal and `idsync run show` say."""
    said = await wait_for_event(session, of(RunQueued, run_id), 10)
    assert isinstance(said, RunQueued) and said.behind == behind, said
    told = await story(session, run_id)
    assert told.state == f"waiting: run {behind}", told
    assert f"has run {behind} going on" in told.reason, told.reason
    state = await Runs(session.js).get(run_id)
    assert state is not None and state.state == QUEUED
    return told


async def one_behind_another(session: Session) -> tuple[str, str]:
    """A run of the job let through (approved), and a second one waiting behind it."""
    first = await session.request_run(JOB_ID)
    await wait_for_event(session, of(RunApproved, first), 10)
    second = await session.request_run(JOB_ID)
    await queued(session, second, first)
    return first, second


async def finished(session: Session, run_id: str) -> RunFinished:
    end = await wait_for_event(session, end_of(run_id), 60)
    assert isinstance(end, RunFinished), end
    return end


def position(journal: list[Event], match: Callable[[Event], bool]) -> int:
    return next(i for i, e in enumerate(journal) if match(e))


@pytest.fixture
async def bus(settings: Settings, session: Session) -> AsyncIterator[Bus]:
    """A connection of the workflow's own, to act as it acts (expiry, the claims check)."""
    made = Bus(make_broker(settings.nats_url or ""), settings)
    await made.broker.connect()
    yield made
    await made.broker.stop()


async def test_runs_asked_for_while_one_goes_on_wait_in_turn_and_plan_what_it_left(
    files: Files, services: RunServices, session: Session
) -> None:
    key = files.write(count=20)[2]["employee_id"]
    async with services("workflow"):
        await apply_files(session, files)
        first = await session.request_run(JOB_ID)
        await wait_for_event(session, of(RunApproved, first), 10)  # going on: no runner yet
        scoped = await session.request_run(JOB_ID, keys=[key])
        await queued(session, scoped, first)
        again = await session.request_run(JOB_ID)
        await queued(session, again, first)
        withdrawn = await session.request_run(JOB_ID)
        await queued(session, withdrawn, first)
        await session.decide("cancel", withdrawn)  # a run that waits is cancelled as any
        async with services("runner"):
            ends = [await finished(session, r) for r in (first, scoped, again)]
        journal = await session.journal()
    assert rows(files) == 20
    assert [e.stats.created for e in ends] == [20, 0, 0], [e.stats for e in ends]
    assert ends[1].stats.unchanged == 1 and ends[2].stats.unchanged == 20
    # Each planned once the one before it had ended; the cancelled one never planned.
    assert position(journal, end_of(first)) < position(journal, of(RunPlanned, scoped))
    assert position(journal, end_of(scoped)) < position(journal, of(RunPlanned, again))
    told = await story(session, withdrawn)
    assert told.state == "cancelled" and "run.planned" not in told.events
    assert (await story(session, again)).reason == ""  # its turn came: no wait told
    claim = await Claims(session.js).get(JOB_ID)
    assert claim is not None and claim.run_id == "" and claim.queue == []


async def test_job_run_wait_says_whom_the_run_waits_for_and_run_show_tells_the_wait(
    files: Files, services: RunServices, session: Session, settings: Settings
) -> None:
    files.write(count=3)
    async with services("workflow"):
        await apply_files(session, files)
        first = await session.request_run(JOB_ID)
        await wait_for_event(session, of(RunApproved, first), 10)
        asked = asyncio.create_task(idsync(settings, "job", "run", JOB_ID, "--wait"))
        said = await wait_for_event(session, lambda e: isinstance(e, RunQueued), 30)
        shown = await idsync(settings, "run", "show", said.run_id)
        async with services("runner"):
            done = await asked
    assert f"of job {JOB_ID}: waiting: run {first}" in shown.stdout, shown.stdout
    assert f"reason: job {JOB_ID} has run {first} going on" in shown.stdout
    assert done.returncode == 0, done.stderr
    assert f"waits for run {first} of job {JOB_ID} to end" in done.stderr
    assert f"run {said.run_id}" in done.stdout and "0 created" in done.stdout, done.stdout


async def test_a_manual_run_waits_for_the_scheduled_run_and_the_schedule_skips_while_it_waits(
    files: Files, services: RunServices, session: Session, buses: Callable[[], Bus]
) -> None:
    async with services("workflow"):
        firing, _, _ = await first_seen(files, session, buses, "one")
        fire = hour_of(clock()) + HOUR
        await firing.tick(fire + timedelta(seconds=1))
        scheduled = scheduled_run_id(JOB_ID, fire)
        await wait_for_event(session, of(RunApproved, scheduled), 10)
        manual = await session.request_run(JOB_ID)
        await queued(session, manual, scheduled)
        # The next fire finds a run going on (two, in fact): skipped, as before.
        await firing.tick(fire + HOUR + timedelta(seconds=1))
        [skipped] = await events(session, ScheduleSkipped)
        assert isinstance(skipped, ScheduleSkipped) and skipped.busy_run in (scheduled, manual)
        async with services("runner"):
            first, second = await finished(session, scheduled), await finished(session, manual)
    assert (first.stats.created, second.stats.created, second.stats.unchanged) == (3, 0, 3)
    assert rows(files) == 3


@pytest.mark.parametrize("ending", ["deny", "cancel", "expire"])
async def test_a_run_waiting_for_approval_holds_its_job_until_it_is_denied_cancelled_or_expires(
    files: Files,
    services: RunServices,
    session: Session,
    settings: Settings,
    bus: Bus,
    ending: str,
) -> None:
    files.write(count=5, extra=APPROVAL)
    async with services("workflow", "runner"):
        await apply_files(session, files)
        first = await session.request_run(JOB_ID)
        await wait_for_event(session, of(RunAwaitingApproval, first), 10)
        second = await session.request_run(JOB_ID)
        await queued(session, second, first)
        if ending == "deny":
            await session.decide("deny", first)  # the requester withdraws it
        elif ending == "cancel":
            await session.decide("cancel", first)
        else:
            later = Expiry(bus, clock=lambda: utcnow() + timedelta(hours=1, seconds=1))
            assert await later.expire_due() == [first]
        await wait_for_event(session, end_of(first), 10)
        # The second's turn: it waits for approval in its turn (from now, not from its ask).
        waits = await wait_for_event(session, of(RunAwaitingApproval, second), 10)
        assert isinstance(waits, RunAwaitingApproval) and waits.expires_at is not None
        assert waits.expires_at > utcnow() + timedelta(minutes=59)
        async with connect(msgspec.structs.replace(settings, principal="bob")) as bob:
            await bob.decide("approve", second)
        end = await finished(session, second)
    assert end.stats.created == 5 and rows(files) == 5


async def test_a_failed_run_lets_the_next_one_go(
    files: Files, services: RunServices, session: Session, monkeypatch: pytest.MonkeyPatch
) -> None:
    files.write(count=6)
    real_plan = runner_run.plan_run  # type: ignore[attr-defined]
    calls: list[str] = []

    async def failing_once(*args: Any, **kwargs: Any) -> Any:
        calls.append("plan")
        if len(calls) == 1:
            raise BadInput("the source refused the read")
        return await real_plan(*args, **kwargs)

    monkeypatch.setattr(runner_run, "plan_run", failing_once)
    async with services("workflow"):
        await apply_files(session, files)
        first, second = await one_behind_another(session)
        async with services("runner"):
            failed = await wait_for_event(session, end_of(first), 30)
            end = await finished(session, second)
    assert isinstance(failed, RunFailed) and "refused the read" in failed.reason
    assert end.stats.created == 6 and rows(files) == 6


async def test_a_run_whose_turn_comes_after_its_job_was_disabled_fails_and_says_why(
    files: Files, services: RunServices, session: Session
) -> None:
    files.write(count=3)
    async with services("workflow"):
        await apply_files(session, files)
        first, second = await one_behind_another(session)
        job = load_job(files.job)
        await session.store.put_job(msgspec.structs.replace(job, enabled=False))
        await session.decide("cancel", first)
        end = await wait_for_event(session, end_of(second), 10)
    assert isinstance(end, RunFailed), end
    assert end.reason == (
        f"job {JOB_ID} was disabled (`idsync job enable {JOB_ID}`) while the run waited for "
        "its turn"
    )
    assert "run.approved" not in (await story(session, second)).events


async def test_a_collection_step_waits_for_its_job_running_alone(
    files: Files, services: RunServices, session: Session
) -> None:
    files.write(count=4)
    async with services("workflow"):
        await apply_files(session, files)
        await session.apply_collection(Collection(id="nightly", jobs=[CollectionStep(job=JOB_ID)]))
        alone = await session.request_run(JOB_ID)
        await wait_for_event(session, of(RunApproved, alone), 10)
        collection_run = await session.run_collection("nightly")
        step = await wait_for_event(
            session, lambda e: isinstance(e, RunRequested) and e.collection == collection_run, 10
        )
        await queued(session, step.run_id, alone)
        async with services("runner"):
            first, second = await finished(session, alone), await finished(session, step.run_id)
            done = await collection_ended(session, collection_run)
    assert done.state == "finished", done
    assert (first.stats.created, second.stats.created) == (4, 0)


async def test_a_run_that_ends_while_no_workflow_runs_frees_its_job_when_one_starts(
    files: Files, services: RunServices, session: Session
) -> None:
    files.write(count=5)
    async with services("workflow"):
        await apply_files(session, files)
        first, second = await one_behind_another(session)
    async with services("runner"):
        await finished(session, first)  # no workflow sees it end
        assert (await story(session, second)).state == f"waiting: run {first}"
        async with services("workflow"):  # started again: the end comes to it now
            end = await finished(session, second)
    assert end.stats.created == 0 and end.stats.unchanged == 5


async def test_a_workflow_killed_between_the_claim_and_the_approval_lets_the_run_go_when_back(
    files: Files, services: RunServices, session: Session, settings: Settings
) -> None:
    files.write(count=4)
    await apply_files(session, files)
    with service_process(settings, "workflow", IDSYNC_FAILPOINTS="after-claim:1") as workflow:
        run_id = await once_started(lambda: session.request_run(JOB_ID))
        await asyncio.to_thread(workflow.wait, 30)  # SIGKILLed at the failpoint
    assert workflow.returncode == -signal.SIGKILL
    claim = await Claims(session.js).get(JOB_ID)
    assert claim is not None and claim.run_id == run_id  # claimed, and nothing more
    assert await Runs(session.js).get(run_id) is None
    async with services("workflow", "runner"):  # its request is delivered again
        end = await finished(session, run_id)
        after = await finished(session, await session.request_run(JOB_ID))
    assert (end.stats.created, after.stats.created, after.stats.unchanged) == (4, 0, 4)


async def test_a_claim_whose_run_ended_unseen_does_not_hold_the_job(
    files: Files, services: RunServices, session: Session, bus: Bus
) -> None:
    """A workflow stopped between a run's end recorded and its event published (or its
    end never reached it): the run's state says it has ended, and that frees the job —
    for the next request, and for the run that waited, by the periodic check."""
    files.write(count=3)
    await apply_files(session, files)
    gone, waiting = new_run_id(), new_run_id()
    await bus.runs.change(gone, lambda _: RunState(job_id=JOB_ID, state="run.cancelled"))
    await bus.runs.change(
        waiting, lambda _: RunState(job_id=JOB_ID, state=QUEUED, requested_by="tester")
    )
    stale = JobClaim(job_id=JOB_ID, run_id=gone, since=utcnow(), queue=[waiting])
    await Claims(bus.js).change(JOB_ID, lambda _: stale)
    await check_claims(bus)  # what the workflow does every IDSYNC_APPROVAL_CHECK seconds
    await wait_for_event(session, of(RunApproved, waiting), 10)
    claim = await Claims(bus.js).get(JOB_ID)
    assert claim is not None and claim.run_id == waiting and claim.queue == []
    # The run it let through ended unseen in turn: a new request takes the job at once.
    await bus.runs.change(waiting, lambda s: s and msgspec.structs.replace(s, state="run.failed"))
    async with services("workflow", "runner"):
        end = await finished(session, await session.request_run(JOB_ID))
    assert end.stats.created == 3


async def test_a_request_delivered_again_after_its_run_ended_claims_nothing(
    files: Files, services: RunServices, session: Session, bus: Bus
) -> None:
    files.write(count=2)
    async with services("workflow", "runner"):
        await apply_files(session, files)
        run_id = await session.request_run(JOB_ID)
        await finished(session, run_id)
        request = await wait_for_event(session, of(RunRequested, run_id), 5)
        assert isinstance(request, RunRequested)
        await gate_request(bus, request)
    claim = await Claims(bus.js).get(JOB_ID)
    assert claim is not None and claim.run_id == "", claim


def many_keys(tag: str, count: int = 30_000) -> list[str]:
    """Keys enough that one request of them fits in a message and three do not."""
    return [f"{tag}-{i:07d}@example.org" for i in range(count)]


async def test_runs_asked_for_with_many_keys_each_wait_their_turn_and_all_run_once(
    files: Files, services: RunServices, session: Session
) -> None:
    """Another system may ask for runs of tens of thousands of keys each, one after the
    other while a run goes on: each waits its turn and runs once, none lost."""
    files.write(count=5)
    async with services("workflow"):
        await apply_files(session, files)
        first = await session.request_run(JOB_ID)
        await wait_for_event(session, of(RunApproved, first), 10)
        waiting = [
            await session.request_run(JOB_ID, keys=many_keys(tag)) for tag in ("a", "b", "c", "d")
        ]
        for run_id in waiting:
            await queued(session, run_id, first)
        async with services("runner"):
            ends = [await finished(session, r) for r in (first, *waiting)]
        journal = await session.journal()
    assert [e.stats.created for e in ends] == [5, 0, 0, 0, 0]
    for before, after in zip((first, *waiting), waiting, strict=False):
        assert position(journal, end_of(before)) < position(journal, of(RunPlanned, after))
    assert [sum(1 for e in journal if of(RunApproved, r)(e)) for r in waiting] == [1] * 4
    claim = await Claims(session.js).get(JOB_ID)
    assert claim is not None and claim.run_id == "" and claim.queue == []
