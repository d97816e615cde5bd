"""Runs that wait for approval, on a server with the generated users and permissions:
approved, denied, expired, refused to their requester; a schedule that needs none."""

from __future__ import annotations

import asyncio
import sqlite3
import time
from datetime import timedelta

import pytest
import structlog.testing

from core.errors import BadInput
from schemas.events import (
    RunApproved,
    RunAwaitingApproval,
    RunDenied,
    RunExpired,
    RunFinished,
    RunRequested,
    is_end,
)
from schemas.ids import utcnow
from services.cli.client import Session
from services.cli.watch import follow_run
from services.common.approvals import Waiting, waiting
from services.common.bus import Bus, make_broker
from services.common.credentials import for_service
from services.common.people import write_csv
from services.common.settings import Settings
from services.workflow.approvals import Expiry

from .conftest import JOB_ID, Files
from .journal import events_of_run, wait_for_event
from .secured import APPROVAL, Running, apply_as, person

NOTIFY = """\
[[notify]]
recipients = ["directory@example.org"]
trigger = "always"
attach = "csv"
"""


def rows(files: Files) -> int:
    if not files.db.exists():
        return 0
    with sqlite3.connect(files.db) as conn:
        return int(conn.execute("SELECT count(*) FROM people").fetchone()[0])


async def test_a_manual_run_waits_for_an_approver_and_then_runs(
    files: Files, secure: Settings, secured_services: Running
) -> None:
    # The notifier reads the run, the plan.
    files.write(count=20, extra=APPROVAL + NOTIFY, owners=["alice"])
    async with secured_services(), person(secure, "alice") as alice:
        await apply_as(alice, files)
        run_id, waits = await follow_run(alice, JOB_ID, None)
        assert isinstance(waits, RunAwaitingApproval), waits
        assert waits.requested_by == "alice" and waits.approvers == ["bob", "carol"]
        assert "needs the approval of bob, carol" in waits.reason
        assert rows(files) == 0, "nothing runs before the approval"
        async with person(secure, "bob") as bob:
            listed = await wait_for_listed(bob, run_id)
            assert listed.reason == waits.reason and listed.plan_hash is None
            await bob.decide("approve", run_id)
        end = await wait_for_event(alice, lambda e: is_end(e) and e.run_id == run_id)
        events = await events_of_run(alice, run_id)
    assert isinstance(end, RunFinished) and end.stats.created == 20
    approvals = [e for e in events if isinstance(e, RunApproved)]
    assert [(a.approved_by, a.requested_by) for a in approvals] == [("bob", "alice")]
    assert rows(files) == 20


async def test_a_denial_ends_the_run_with_its_reason(
    files: Files, secure: Settings, secured_services: Running
) -> None:
    files.write(count=10, extra=APPROVAL, owners=["alice"])
    async with secured_services(), person(secure, "alice") as alice:
        await apply_as(alice, files)
        run_id, _ = await follow_run(alice, JOB_ID, None)
        async with person(secure, "carol") as carol:
            with structlog.testing.capture_logs() as logs:
                await carol.decide("deny", run_id, "not during the audit")
            with pytest.raises(BadInput, match="not waiting for approval"):
                await carol.decide("approve", run_id)
        end = await wait_for_event(alice, lambda e: is_end(e) and e.run_id == run_id)
    assert isinstance(end, RunDenied)
    assert (end.by, end.reason) == ("carol", "not during the audit")
    assert rows(files) == 0
    said = [(e["event"], e.get("by")) for e in logs if e.get("run_id") == run_id]
    assert ("run denied", "carol") in said, "the workflow's log says what happened, in English"


async def test_the_requester_and_strangers_cannot_approve(
    files: Files, secure: Settings, secured_services: Running
) -> None:
    extra = APPROVAL.replace('"group:approvers"', '"group:approvers", "alice"')
    files.write(count=10, extra=extra, owners=["alice"])
    async with secured_services(), person(secure, "alice") as alice:
        await apply_as(alice, files)
        run_id, _ = await follow_run(alice, JOB_ID, None)
        with pytest.raises(BadInput, match="alice asked for this run and cannot approve it"):
            await alice.decide("approve", run_id)
        async with person(secure, "dave") as dave:
            with pytest.raises(BadInput, match="dave is not an approver of job hr-to-db"):
                await dave.decide("approve", run_id)
        assert [w.run_id for w in await waiting(alice.js)] == [run_id], "it still waits"
    assert rows(files) == 0


async def test_an_approval_of_the_plan_one_saw_is_refused_once_the_run_waits_with_another(
    files: Files, secure: Settings, secured_services: Running
) -> None:
    # bob looked at the plan (10 deletes); meanwhile carol approved it, the export changed
    # and the run re-planned: it waits with another plan, which bob has not seen.
    people = files.write(count=10, extra=APPROVAL, owners=["alice"])
    async with secured_services(), person(secure, "alice") as alice, person(secure, "bob") as bob:
        await apply_as(alice, files)
        first, _ = await follow_run(alice, JOB_ID, None)
        await bob.decide("approve", first)
        await wait_for_event(alice, lambda e: isinstance(e, RunFinished) and e.run_id == first)
        write_csv(files.csv, [])  # the plan deletes everyone
        run_id, _ = await follow_run(alice, JOB_ID, None)
        # The request is approved; then the plan waits. Each approval says which it was.
        assert await bob.decide("approve", run_id) == "approved: its request runs now"
        seen = await wait_for_event(
            alice, lambda e: isinstance(e, RunAwaitingApproval) and e.plan_hash is not None
        )
        assert isinstance(seen, RunAwaitingApproval) and seen.plan_hash is not None
        write_csv(files.csv, people[:1])  # now 9 deletes
        async with person(secure, "carol") as carol:
            await carol.decide("approve", run_id, plan=seen.plan_hash[:12])
        again = await wait_for_event(
            alice,
            lambda e: (
                isinstance(e, RunAwaitingApproval) and e.plan_hash not in (None, seen.plan_hash)
            ),
        )
        assert isinstance(again, RunAwaitingApproval) and again.plan_hash is not None
        with pytest.raises(BadInput, match=f"now waits with plan {again.plan_hash[:12]}"):
            await bob.decide("approve", run_id, plan=seen.plan_hash[:12])
        assert rows(files) == 10, "nothing written"
        await bob.decide("approve", run_id, plan=again.plan_hash[:12])
        end = await wait_for_event(alice, lambda e: is_end(e) and e.run_id == run_id)
    assert isinstance(end, RunFinished) and end.stats.deleted == 9
    assert rows(files) == 1


async def test_a_run_id_that_cannot_be_one_is_answered_no_such_run(
    files: Files, secure: Settings, secured_services: Running
) -> None:
    # A pasted id with a space after it, or a path: the workflow did not answer at all,
    # and the command line said the workflow service was away.
    files.write(count=3, extra=APPROVAL, owners=["alice"])
    async with secured_services(), person(secure, "alice") as alice:
        await apply_as(alice, files)
        run_id, _ = await follow_run(alice, JOB_ID, None)
        async with person(secure, "bob") as bob:
            for verb in ("approve", "deny", "cancel"):
                for wrong in (f"{run_id} ", "../x", ".hidden"):
                    with pytest.raises(BadInput, match=f"no run {wrong!r}"):
                        await bob.decide(verb, wrong)
        assert [w.run_id for w in await waiting(alice.js)] == [run_id], "it still waits"
    assert rows(files) == 0


async def test_an_unanswered_request_expires(
    files: Files, secure: Settings, secured_services: Running
) -> None:
    files.write(count=10, extra=APPROVAL, owners=["alice"])
    async with secured_services(), person(secure, "alice") as alice:
        await apply_as(alice, files)
        run_id, _ = await follow_run(alice, JOB_ID, None)
        await wait_for_listed(alice, run_id, everyone=True)
        broker = make_broker(secure.nats_url or "", for_service(secure, "workflow"))
        await broker.connect()
        try:
            bus = Bus(broker, secure)
            assert (
                await Expiry(bus, clock=lambda: utcnow() + timedelta(minutes=59)).expire_due() == []
            )
            later = Expiry(bus, clock=lambda: utcnow() + timedelta(hours=1, seconds=1))
            assert await later.expire_due() == [run_id]
        finally:
            await broker.stop()
        end = await wait_for_event(alice, lambda e: is_end(e) and e.run_id == run_id)
        async with person(secure, "bob") as bob:
            expired = r"not waiting for approval \(it expired, unanswered\)"
            with pytest.raises(BadInput, match=expired):
                await bob.decide("approve", run_id)
        assert await waiting(alice.js) == []
    assert isinstance(end, RunExpired) and "nobody answered within 1 h" in end.reason
    assert rows(files) == 0


async def test_a_scheduled_run_needs_no_approval_when_only_manual_runs_do(
    files: Files, secure: Settings, secured_services: Running
) -> None:
    files.write(count=12, schedule="1s", extra=APPROVAL, owners=["alice"])
    async with secured_services(), person(secure, "alice") as alice:
        await apply_as(alice, files)
        end = await wait_for_event(alice, lambda e: isinstance(e, RunFinished))
        events = await events_of_run(alice, end.run_id)
    requested = next(e for e in events if isinstance(e, RunRequested))
    approved = next(e for e in events if isinstance(e, RunApproved))
    assert requested.trigger == "schedule" and approved.approved_by == "workflow"
    assert not any(isinstance(e, RunAwaitingApproval) for e in events)
    assert rows(files) == 12


async def wait_for_listed(session: Session, run_id: str, everyone: bool = False) -> Waiting:
    """The run's entry in the approvals list, once the workflow has recorded it."""
    me = session.settings.principal
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        for entry in await waiting(session.js):
            if entry.run_id == run_id and (everyone or me in entry.approvers):
                return entry
        await asyncio.sleep(0.1)
    raise AssertionError(f"run {run_id} never listed as waiting for {me}")


async def test_a_plan_over_the_limits_waits_again_for_the_jobs_approvers(
    files: Files, secure: Settings, secured_services: Running
) -> None:
    files.write(count=10, extra=APPROVAL, owners=["alice"])
    async with secured_services(), person(secure, "alice") as alice, person(secure, "bob") as bob:
        await apply_as(alice, files)
        first, _ = await follow_run(alice, JOB_ID, None)
        await bob.decide("approve", first)
        await wait_for_event(alice, lambda e: isinstance(e, RunFinished) and e.run_id == first)
        write_csv(files.csv, [])  # the export came back empty: the plan deletes everyone
        run_id, _ = await follow_run(alice, JOB_ID, None)
        await bob.decide("approve", run_id)  # the request; then the plan waits
        plan = await wait_for_event(
            alice, lambda e: isinstance(e, RunAwaitingApproval) and e.plan_hash is not None
        )
        assert isinstance(plan, RunAwaitingApproval)
        listed = await wait_for_listed(bob, run_id)
        while listed.plan_hash is None:  # the request's entry, until the plan's replaces it
            listed = await wait_for_listed(bob, run_id)
        assert listed.plan_hash == plan.plan_hash and listed.counts is not None
        assert listed.counts.delete == 10 and listed.requested_by == "alice"
        with pytest.raises(BadInput, match="alice asked for this run"):
            await alice.decide("approve", run_id)
        async with person(secure, "carol") as carol:
            said = await carol.decide("approve", run_id)
        assert said.startswith(f"approved: its plan {listed.plan_hash[:12]}, over the limits")
        end = await wait_for_event(alice, lambda e: is_end(e) and e.run_id == run_id)
    assert isinstance(end, RunFinished) and end.stats.deleted == 10
    assert rows(files) == 0
