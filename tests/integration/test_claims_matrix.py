"""A job's claim (one run at a time) against what else may happen to the job and its
runs: the job deleted while its runs go on and wait; a workflow killed as a waiting
run's turn comes; one object provisioned now while a run of its job goes on."""

from __future__ import annotations

import asyncio
import signal
from datetime import timedelta
from types import SimpleNamespace
from typing import Any, cast

import msgspec
import pytest

from schemas.collections import Collection, CollectionStep, OnFailure
from schemas.commands import JobDeleteCommand, encode
from schemas.events import (
    RunApproved,
    RunAwaitingApproval,
    RunCancelled,
    RunPlanned,
    RunRequested,
)
from schemas.ids import utcnow
from services.cli.client import Session, connect
from services.common.approvals import waiting as waiting_list
from services.common.bus import Bus
from services.common.claims import Claims
from services.common.runs import Runs
from services.common.settings import Settings
from services.portal.provision import provision
from services.workflow.approvals import Expiry
from services.workflow.definitions import delete_job

from .conftest import JOB_ID, Files, RunServices, apply_files
from .journal import wait_for_event
from .processes import once_started, runner_process, service_process
from .test_claims import (
    APPROVAL,
    bus,
    end_of,
    finished,
    of,
    one_behind_another,
    position,
    queued,
    rows,
    story,
)
from .test_collections import ended as collection_ended
from .test_sites import hosted

__all__ = ["bus"]  # the fixture, from the claims' tests

HOUR_AND_A_BIT = timedelta(hours=1, seconds=1)


@pytest.mark.parametrize("how", ["client", "workflow", "client-forgetting", "workflow-forgetting"])
async def test_a_job_deleted_while_one_run_goes_on_and_others_wait_ends_them_all(
    files: Files, services: RunServices, session: Session, bus: Bus, how: str
) -> None:
    """Its runs waiting for their turn stayed "waiting" for a job that was no more, and
    once the job was made again under the same id a new run waited behind them — they
    then ran, as asked for the deleted job, against the new one."""
    files.write(count=4)
    forgetting = how.endswith("forgetting")
    async with services("workflow"):
        await apply_files(session, files)
        going = await session.request_run(JOB_ID)
        await wait_for_event(session, of(RunApproved, going), 10)  # no runner: goes on
        waiting = [await session.request_run(JOB_ID) for _ in range(2)]
        for run_id in waiting:
            await queued(session, run_id, going)
        if how.startswith("client"):  # an open server: the command deletes it itself
            await session.delete_job(JOB_ID, forget_history=forgetting)
        else:  # a secured one: the workflow deletes it
            command = JobDeleteCommand(job_id=JOB_ID, forget_history=forgetting)
            reply = await delete_job(bus, "tester", encode(command))
            assert reply.ok, reply.error
        if not forgetting:
            for run_id in (going, *waiting):
                end = await wait_for_event(session, end_of(run_id), 10)
                assert isinstance(end, RunCancelled), end
                assert f"job {JOB_ID} was deleted by tester" in end.reason, end.reason
                assert (await story(session, run_id)).state == "cancelled"
        await apply_files(session, files)  # made again, under the same id
        again = await session.request_run(JOB_ID)
        async with services("runner"):
            end = await finished(session, again)
        journal = await session.journal()
    assert end.stats.created == 4 and rows(files) == 4
    assert not any(of(RunPlanned, r)(e) for e in journal for r in (going, *waiting))
    claim = await Claims(session.js).get(JOB_ID)
    assert claim is not None and claim.run_id == "" and claim.queue == [], claim


async def test_a_workflow_killed_as_a_waiting_runs_turn_comes_lets_it_go_when_back(
    files: Files, services: RunServices, session: Session, settings: Settings
) -> None:
    """Killed between the turn recorded (the run approved) and its approval published:
    the run stayed "approved" for ever, never planned, and held its job — every later
    request of it waited behind it."""
    files.write(count=3)
    async with services("workflow"):
        await apply_files(session, files)
        first, second = await one_behind_another(session)
    with service_process(settings, "workflow", IDSYNC_FAILPOINTS="turn-recorded:1") as workflow:
        await once_started(lambda: session.decide("cancel", first))  # the second's turn
        await asyncio.to_thread(workflow.wait, 30)
    assert workflow.returncode == -signal.SIGKILL
    state = await Runs(session.js).get(second)
    assert state is not None and state.state == "run.approved"
    assert not any(of(RunApproved, second)(e) for e in await session.journal())
    async with services("workflow", "runner"):
        end = await finished(session, second)
        after = await finished(session, await session.request_run(JOB_ID))
    assert (end.stats.created, after.stats.unchanged) == (3, 3)


async def test_one_object_provisioned_now_while_a_run_of_its_job_goes_on_is_said_to_wait(
    files: Files, services: RunServices, session: Session, bus: Bus
) -> None:
    """The portal said the outcome was "running" while the run had not started: it
    waited for the job's run going on."""
    rows_written = files.write(count=5)
    key = rows_written[2]["employee_id"]
    portal = cast(Any, SimpleNamespace(bus=bus, session=lambda principal: session))
    async with services("workflow"):
        await apply_files(session, files)
        going = await session.request_run(JOB_ID)
        await wait_for_event(session, of(RunApproved, going), 10)
        told = await provision(portal, "tester", JOB_ID, key, wait=0.5)
        outcome = told["steps"][-1]
        assert told["state"] == f"waiting: run {going}", told
        assert outcome["outcome"] == "waiting", outcome
        assert f"has run {going} going on" in outcome["detail"], outcome
        async with services("runner"):  # the run going on ends: the key's run follows
            await finished(session, going)
            end = await finished(session, told["run_id"])
    assert end.stats.unchanged == 1 and rows(files) == 5


async def test_two_workflows_taking_one_jobs_requests_at_once_let_one_run_through_at_a_time(
    files: Files, services: RunServices, session: Session
) -> None:
    files.write(count=4)
    async with services("workflow"), services("workflow"):  # scaled out: two of them
        await apply_files(session, files)
        asked = await asyncio.gather(*(session.request_run(JOB_ID) for _ in range(8)))
        claim = await Claims(session.js).get(JOB_ID)
        for _ in range(50):  # every request taken by one workflow or the other
            claim = await Claims(session.js).get(JOB_ID)
            if claim is not None and sorted(claim.runs) == sorted(asked):
                break
            await asyncio.sleep(0.1)
        assert claim is not None and sorted(claim.runs) == sorted(asked), claim
        first, *waiting = claim.runs
        await wait_for_event(session, of(RunApproved, first), 10)
        for run_id in waiting:
            await queued(session, run_id, first)
        withdrawn = waiting.pop(3)
        await session.decide("cancel", withdrawn)
        async with services("runner"):
            ends = [await finished(session, r) for r in (first, *waiting)]
        journal = await session.journal()
    assert [e.stats.created for e in ends] == [4] + [0] * len(waiting)
    for before, after in zip((first, *waiting), waiting, strict=False):
        assert position(journal, end_of(before)) < position(journal, of(RunPlanned, after))
    assert [sum(1 for e in journal if of(RunApproved, r)(e)) for r in (first, *waiting)] == [1] * (
        1 + len(waiting)
    )
    assert "run.planned" not in (await story(session, withdrawn)).events
    claim = await Claims(session.js).get(JOB_ID)
    assert claim is not None and claim.run_id == "" and claim.queue == []


async def test_runs_waiting_behind_a_wait_for_approval_are_answered_in_turn_and_expire_in_turn(
    files: Files, services: RunServices, session: Session, settings: Settings, bus: Bus
) -> None:
    files.write(count=3, extra=APPROVAL)
    async with services("workflow", "runner"):
        await apply_files(session, files)
        first = await session.request_run(JOB_ID)
        await wait_for_event(session, of(RunAwaitingApproval, first), 10)
        withdrawn, second = await session.request_run(JOB_ID), await session.request_run(JOB_ID)
        for run_id in (withdrawn, second):
            await queued(session, run_id, first)
        await session.decide("cancel", withdrawn)
        await wait_for_event(session, end_of(withdrawn), 10)
        assert [w.run_id for w in await waiting_list(session.js)] == [first]  # not its turn
        async with connect(msgspec.structs.replace(settings, principal="bob")) as bob:
            await bob.decide("approve", first)
        await finished(session, first)
        # The second's turn: its wait for approval counts from now, and expires in turn.
        waits = await wait_for_event(session, of(RunAwaitingApproval, second), 10)
        assert isinstance(waits, RunAwaitingApproval) and waits.expires_at is not None
        assert waits.expires_at > utcnow() + timedelta(minutes=59)
        assert await Expiry(bus, clock=lambda: utcnow() + HOUR_AND_A_BIT).expire_due() == [second]
        end = await wait_for_event(session, end_of(second), 10)
        assert (await story(session, second)).state == "expired", end
    assert rows(files) == 3
    claim = await Claims(session.js).get(JOB_ID)
    assert claim is not None and claim.run_id == "" and claim.queue == [], claim


@pytest.mark.parametrize("on_failure", ["abort", "continue"])
async def test_a_collection_cancelled_while_its_step_waits_for_its_jobs_run_frees_the_job(
    files: Files, services: RunServices, session: Session, on_failure: OnFailure
) -> None:
    files.write(count=3)
    async with services("workflow"):
        await apply_files(session, files)
        steps = [CollectionStep(job=JOB_ID, on_failure=on_failure)] * 2  # the job twice
        await session.apply_collection(Collection(id="nightly", jobs=steps))
        alone = await session.request_run(JOB_ID)
        await wait_for_event(session, of(RunApproved, alone), 10)
        collection_run = await session.run_collection("nightly")
        step = await wait_for_event(
            session, lambda e: isinstance(e, RunRequested) and e.collection == collection_run, 10
        )
        await queued(session, step.run_id, alone)
        await session.cancel_collection(collection_run)
        end = await wait_for_event(session, end_of(step.run_id), 10)
        assert isinstance(end, RunCancelled) and "its collection was cancelled" in end.reason
        async with services("runner"):
            await finished(session, alone)
            done = await collection_ended(session, collection_run)
            after = await finished(session, await session.request_run(JOB_ID))
        journal = await session.journal()
    assert done.state == "cancelled", done
    requested = [e for e in journal if isinstance(e, RunRequested) and e.collection]
    assert [e.run_id for e in requested] == [step.run_id]  # its second step never asked
    assert after.stats.unchanged == 3


async def test_a_workflow_killed_as_it_records_an_approval_lets_the_run_go_when_back(
    files: Files, services: RunServices, session: Session, settings: Settings
) -> None:
    """Killed between the approval recorded and published: the run stayed "approved",
    could be approved no more ("not waiting for approval"), and held its job for ever."""
    files.write(count=3, extra=APPROVAL)
    await apply_files(session, files)
    with service_process(settings, "workflow", IDSYNC_FAILPOINTS="answer-recorded:1") as workflow:
        run_id = await once_started(lambda: session.request_run(JOB_ID))
        await wait_for_event(session, of(RunAwaitingApproval, run_id), 10)
        async with connect(msgspec.structs.replace(settings, principal="bob")) as bob:
            answer = asyncio.create_task(bob.decide("approve", run_id))
            await asyncio.to_thread(workflow.wait, 30)  # killed once the approval is recorded
            answer.cancel()
    assert workflow.returncode == -signal.SIGKILL
    state = await Runs(session.js).get(run_id)
    assert state is not None and state.state == "run.approved"
    checking = msgspec.structs.replace(settings, approval_check=0.2)
    async with services("runner"), hosted(checking, "workflow"):
        end = await finished(session, run_id)
        approved = await wait_for_event(session, of(RunApproved, run_id), 1)
    assert isinstance(approved, RunApproved) and approved.approved_by == "bob", approved
    assert end.stats.created == 3 and rows(files) == 3


@pytest.mark.parametrize("point", ["after-plan", "after-write"])
async def test_a_runner_killed_mid_run_leaves_its_job_to_the_next_run_once_the_run_ends(
    files: Files, services: RunServices, session: Session, settings: Settings, point: str
) -> None:
    files.write(count=4)
    async with services("workflow"):
        await apply_files(session, files)
        with runner_process(settings, IDSYNC_FAILPOINTS=f"{point}:1") as runner:
            going = await session.request_run(JOB_ID)
            await wait_for_event(session, of(RunApproved, going), 10)
            waiting = await session.request_run(JOB_ID)
            await queued(session, waiting, going)
            await asyncio.to_thread(runner.wait, 30)  # killed mid-run
        assert runner.returncode == -signal.SIGKILL
        assert (await story(session, waiting)).state == f"waiting: run {going}"
        async with services("runner"):  # another runner takes the run up where it stopped
            ends = [await finished(session, r) for r in (going, waiting)]
    assert [(e.stats.created, e.stats.unchanged) for e in ends] == [(4, 0), (0, 4)]
    assert rows(files) == 4
