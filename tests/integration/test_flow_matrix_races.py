"""Runs raced by the people who answer them: a run cancelled while it is planned ends
cancelled, whatever its planning comes to; a job deleted while its run waits for
approval."""

from __future__ import annotations

import asyncio
import sqlite3
from typing import Any

import msgspec
import pytest

from core.errors import BadInput
from core.runs import fold
from schemas.events import (
    RunApproved,
    RunAwaitingApproval,
    RunCancelled,
    RunDenied,
    RunFinished,
    is_end,
)
from services.cli.client import Session, connect
from services.common.approvals import waiting
from services.common.bus import Bus, make_broker
from services.common.definitions import load_collection, load_job
from services.common.people import write_csv
from services.common.runs import Runs, RunState
from services.common.settings import Settings
from services.runner import run as planning
from services.runner import work
from services.runner.planning import plan_run as real_plan
from services.workflow.approvals import record

from .conftest import JOB_ID, Files, RunServices, apply_files
from .journal import events_of_run, wait_for_event
from .secured import APPROVAL, Running, apply_as, person

STAGING = "staging = true\n"
TIGHT = "safety = { max_percent = 10, min_count = 0 }\n"


@pytest.mark.parametrize(
    "shape", ["fails", "staged", "over the limits", "kept"], ids=lambda s: s.replace(" ", "-")
)
async def test_a_run_cancelled_while_planned_ends_cancelled_whatever_its_planning_comes_to(
    files: Files,
    services: RunServices,
    session: Session,
    monkeypatch: pytest.MonkeyPatch,
    shape: str,
) -> None:
    extra = {"staged": STAGING, "over the limits": TIGHT}.get(shape, "")
    files.write(count=6, extra=extra)
    planning_now, go, done = asyncio.Event(), asyncio.Event(), asyncio.Event()
    real_execute = planning.Planner.execute

    async def slow_plan(*args: Any, **kwargs: Any) -> Any:
        if hold_off:
            return await real_plan(*args, **kwargs)
        planning_now.set()
        await go.wait()
        if shape == "fails":
            raise BadInput("the export cannot be read")
        return await real_plan(*args, **kwargs)

    async def execute(self: planning.Planner) -> None:
        try:
            await real_execute(self)
        finally:
            done.set()

    hold_off = shape == "over the limits"  # a first run fills the table
    monkeypatch.setattr("services.runner.run.plan_run", slow_plan)
    monkeypatch.setattr(planning.Planner, "execute", execute)
    async with services("workflow", "runner", "recorder"):
        await apply_files(session, files)
        if hold_off:
            first = await session.request_run(JOB_ID)
            await wait_for_event(session, lambda e: is_end(e) and e.run_id == first)
            write_csv(files.csv, [])  # the second run's plan deletes everyone
            hold_off = False
            done.clear()
        run_id = await session.request_run(JOB_ID)
        await asyncio.wait_for(planning_now.wait(), 30)
        await session.decide("cancel", run_id, "not now")
        go.set()
        await asyncio.wait_for(done.wait(), 30)
        await wait_for_event(session, lambda e: isinstance(e, RunCancelled) and e.run_id == run_id)
        await asyncio.sleep(0.5)  # anything published after the planning is in by now
        events = await events_of_run(session, run_id)
        ends = [type(e).__name__ for e in events if is_end(e)]
        state = await session_state(session, run_id)
        listed = [w.run_id for w in await waiting(session.js)]
    assert ends == ["RunCancelled"], ends
    told = fold(events)[0]  # as `idsync run show` tells it
    assert (told.state, told.reason) == ("cancelled", "by tester: not now"), told
    assert state is not None and state.state == "run.cancelled", state
    assert run_id not in listed, "a cancelled run waits for nobody"
    assert _rows(files) == (6 if shape == "over the limits" else 0), "nothing written"


async def session_state(session: Session, run_id: str) -> RunState | None:
    return await Runs(session.js).get(run_id)


def _rows(files: Files) -> int:
    if not files.db.exists():
        return 0
    with sqlite3.connect(files.db) as conn:
        try:
            return int(conn.execute("SELECT count(*) FROM people").fetchone()[0])
        except sqlite3.OperationalError:
            return 0


async def test_a_job_deleted_while_its_run_waits_for_approval_ends_the_wait(
    files: Files, secure: Settings, secured_services: Running
) -> None:
    # The wait stayed listed until it expired, and anyone at all could approve it: the
    # deleted job named no approvers any more.
    files.write(count=5, extra=APPROVAL, owners=["alice"])
    async with secured_services(), person(secure, "alice") as alice:
        await apply_as(alice, files)
        run_id = await alice.request_run(JOB_ID)
        await wait_for_event(
            alice, lambda e: isinstance(e, RunAwaitingApproval) and e.run_id == run_id
        )
        await alice.delete_job(JOB_ID)
        for who in ("dave", "bob"):
            async with person(secure, who) as someone:
                with pytest.raises(BadInput, match="not waiting for approval"):
                    await someone.decide("approve", run_id)
        end = await wait_for_event(alice, lambda e: is_end(e) and e.run_id == run_id)
        listed = [w.run_id for w in await waiting(alice.js)]
        ends = [e for e in await events_of_run(alice, run_id) if is_end(e)]
    assert isinstance(end, RunCancelled) and "job hr-to-db was deleted" in end.reason
    assert ends == [end] and listed == []
    assert _rows(files) == 0


@pytest.mark.parametrize("second", ["deny", "approve"])
async def test_a_plan_over_the_limits_is_answered_once(
    files: Files,
    services: RunServices,
    session: Session,
    settings: Settings,
    monkeypatch: pytest.MonkeyPatch,
    second: str,
) -> None:
    # Approved, then denied (or approved again) before a runner took the approval: both
    # answers were accepted, the journal said approved and denied, and the approver was
    # told the plan "is applied as approved" of a run that then ended denied.
    files.write(count=6, extra=TIGHT)
    release, real_execute = asyncio.Event(), planning.Planner.execute

    async def held(self: planning.Planner) -> None:
        if self.approved.plan_hash is not None:
            await release.wait()
        await real_execute(self)

    monkeypatch.setattr(planning.Planner, "execute", held)
    async with services("workflow", "runner", "recorder"):
        await apply_files(session, files)
        first = await session.request_run(JOB_ID)
        await wait_for_event(session, lambda e: is_end(e) and e.run_id == first)
        write_csv(files.csv, [])  # the plan deletes everyone: over the limits
        run_id = await session.request_run(JOB_ID)
        seen = await wait_for_event(
            session, lambda e: isinstance(e, RunAwaitingApproval) and e.run_id == run_id
        )
        assert isinstance(seen, RunAwaitingApproval)
        said = await session.decide("approve", run_id)
        assert said.startswith("approved: its plan")
        broker = make_broker(settings.nats_url or "")
        await broker.connect()
        try:  # its wait delivered to the workflow again: an answered wait is not listed
            await record(Bus(broker, settings), seen)
        finally:
            await broker.stop()
        assert run_id not in [w.run_id for w in await waiting(session.js)]
        async with connect(msgspec.structs.replace(settings, principal="carol")) as carol:
            with pytest.raises(BadInput, match="answered by someone else"):
                await carol.decide(second, run_id, "changed my mind")
        release.set()
        end = await wait_for_event(session, lambda e: is_end(e) and e.run_id == run_id)
        events = await events_of_run(session, run_id)
    decisions = [e for e in events if isinstance(e, (RunApproved, RunDenied))]
    assert isinstance(end, RunFinished) and end.stats.deleted == 6
    assert len([e for e in decisions if isinstance(e, RunApproved) and e.plan_hash]) == 1
    assert not any(isinstance(e, RunDenied) for e in decisions)
    assert _rows(files) == 0


async def test_a_collection_cancelled_while_its_job_waits_for_approval_lists_no_wait(
    files: Files, secure: Settings, secured_services: Running
) -> None:
    # The step's run was cancelled, but `idsync run approvals` went on listing it for its
    # approvers until it expired.
    files.write(count=3, extra=APPROVAL, owners=["alice"])
    nightly = files.folder / "nightly.toml"
    nightly.write_text(f'id = "nightly"\nowners = ["alice"]\n\n[[jobs]]\njob = "{JOB_ID}"\n')
    async with secured_services(), person(secure, "alice") as alice:
        await apply_as(alice, files)
        await alice.apply_collection(load_collection(nightly))
        collection_run = await alice.run_collection("nightly")
        step = await wait_for_event(alice, lambda e: isinstance(e, RunAwaitingApproval))
        await alice.cancel_collection(collection_run)
        end = await wait_for_event(alice, lambda e: is_end(e) and e.run_id == step.run_id)
        await asyncio.sleep(0.5)
        listed = [w.run_id for w in await waiting(alice.js)]
    assert isinstance(end, RunCancelled)
    assert listed == [], "a cancelled run waits for nobody"


async def test_an_approved_plan_is_the_plan_applied_even_when_the_data_now_plans_less(
    files: Files, services: RunServices, session: Session, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The plan approved deleted everyone; before a runner took the approval the export
    # came back whole but for one department: that other plan, under the limits, was
    # applied under an approval of a plan nobody had seen.
    people = files.write(count=6, extra=TIGHT)
    release, real_execute = asyncio.Event(), planning.Planner.execute

    async def held(self: planning.Planner) -> None:
        if self.approved.plan_hash is not None:
            await release.wait()
        await real_execute(self)

    monkeypatch.setattr(planning.Planner, "execute", held)
    async with services("workflow", "runner", "recorder"):
        await apply_files(session, files)
        first = await session.request_run(JOB_ID)
        await wait_for_event(session, lambda e: is_end(e) and e.run_id == first)
        write_csv(files.csv, [])
        run_id = await session.request_run(JOB_ID)
        seen = await wait_for_event(
            session, lambda e: isinstance(e, RunAwaitingApproval) and e.run_id == run_id
        )
        assert isinstance(seen, RunAwaitingApproval) and seen.plan_hash is not None
        await session.decide("approve", run_id, plan=seen.plan_hash)
        write_csv(
            files.csv, [dict(p, department="Moved") if i == 0 else p for i, p in enumerate(people)]
        )
        release.set()
        again = await wait_for_event(
            session,
            lambda e: (
                e.run_id == run_id
                and (
                    is_end(e)
                    or (
                        isinstance(e, RunAwaitingApproval)
                        and e.plan_hash not in (None, seen.plan_hash)
                    )
                )
            ),
        )
        assert isinstance(again, RunAwaitingApproval), again
        assert "changed since the plan was approved" in again.reason
        events = await events_of_run(session, run_id)
    assert not any(is_end(e) for e in events), "it waits: nothing applied"
    assert _rows(files) == 6


async def test_a_run_waiting_for_approval_is_not_approved_once_its_job_is_disabled(
    files: Files, secure: Settings, secured_services: Running
) -> None:
    # `job disable`: "no run at all" — yet the request that waited ran once approved.
    files.write(count=4, extra=APPROVAL, owners=["alice"])
    async with secured_services(), person(secure, "alice") as alice:
        await apply_as(alice, files)
        run_id = await alice.request_run(JOB_ID)
        await wait_for_event(
            alice, lambda e: isinstance(e, RunAwaitingApproval) and e.run_id == run_id
        )
        job = load_job(files.job)
        await alice.apply_job(msgspec.structs.replace(job, enabled=False))
        async with person(secure, "bob") as bob:
            with pytest.raises(BadInput, match="job hr-to-db is disabled"):
                await bob.decide("approve", run_id)
            assert [w.run_id for w in await waiting(bob.js)] == [run_id], "it still waits"
            await alice.apply_job(job)  # enabled again: it may be approved
            await bob.decide("approve", run_id)
        end = await wait_for_event(alice, lambda e: is_end(e) and e.run_id == run_id)
    assert isinstance(end, RunFinished) and _rows(files) == 4


async def test_a_run_cancelled_while_its_last_changes_are_written_ends_cancelled(
    files: Files,
    services: RunServices,
    session: Session,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # Its last batch applied, the run writes what its destination staged (a workbook is
    # saved then) before it finishes: cancelled meanwhile, it ended twice, cancelled and
    # then finished.
    files.write(count=5)
    writing, go = asyncio.Event(), asyncio.Event()
    real_finish = work.finish_writes

    async def slow_finish(*args: Any, quietly: bool = True, **kwargs: Any) -> None:
        if not quietly:  # the run's end
            writing.set()
            await go.wait()
        await real_finish(*args, quietly=quietly, **kwargs)

    monkeypatch.setattr(work, "finish_writes", slow_finish)
    async with services("workflow", "runner", "recorder"):
        await apply_files(session, files)
        run_id = await session.request_run(JOB_ID)
        await asyncio.wait_for(writing.wait(), 30)
        await session.decide("cancel", run_id, "not now")
        go.set()
        await wait_for_event(session, lambda e: isinstance(e, RunCancelled) and e.run_id == run_id)
        await asyncio.sleep(0.5)  # time for a finish to (wrongly) be said
        events = await events_of_run(session, run_id)
    assert [type(e).__name__ for e in events if is_end(e)] == ["RunCancelled"]
    assert fold(events)[0].state == "cancelled"
