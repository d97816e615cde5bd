"""A run that waited for approval and was then approved and finished tells why it waited
as such — not as the reason of how it ended."""

from __future__ import annotations

from datetime import UTC, datetime

from core.runs import approvers, fold
from schemas.events import (
    Event,
    RunApproved,
    RunAwaitingApproval,
    RunDenied,
    RunFinished,
    RunRequested,
)
from schemas.plan import PlanCounts, RunStats
from services.notifier.body import facts

RUN, JOB = "20261121T204800Z-3f9a1c", "hr"
AT = datetime(2026, 11, 21, 20, 48, tzinfo=UTC)
WHY = "8 deletes exceed the limit of 3 (the job's safety.min_count)"


def story_of_an_approved_plan() -> list[Event]:
    return [
        RunRequested(run_id=RUN, job_id=JOB, requested_by="ada", at=AT),
        RunApproved(run_id=RUN, job_id=JOB, approved_by="workflow", id="a1", at=AT),
        RunAwaitingApproval(
            run_id=RUN,
            job_id=JOB,
            id="w",
            reason=WHY,
            plan_hash="h1",
            counts=PlanCounts(delete=8),
            at=AT,
        ),
        RunApproved(run_id=RUN, job_id=JOB, approved_by="bob", id="a2", plan_hash="h1", at=AT),
        RunFinished(
            run_id=RUN,
            job_id=JOB,
            stats=RunStats(read=0, deleted=8),
            plan_hash="h1",
            seconds=0.2,
            at=AT,
        ),
    ]


def test_the_wait_is_told_apart_from_how_the_run_ended() -> None:
    [run] = fold(story_of_an_approved_plan())
    assert (run.state, run.reason, run.waited) == ("finished", "", WHY)


def test_the_mail_says_why_the_run_waited() -> None:
    events = story_of_an_approved_plan()
    [run] = fold(events)
    told = dict(facts("HR", run, events[-1]))
    assert "Reason" not in told
    assert told["Waited for approval"] == WHY


def test_the_mail_asking_for_approval_says_nobody_approved_yet() -> None:
    events = story_of_an_approved_plan()[:3]
    [run] = fold(events)
    told = dict(facts("HR", run, events[-1]))
    assert told["State"] == "awaiting approval" and "Approved by" not in told


def test_the_mail_of_the_approved_run_names_who_approved_its_plan() -> None:
    events = story_of_an_approved_plan()
    [run] = fold(events)
    assert dict(facts("HR", run, events[-1]))["Approved by"] == "bob"


def test_a_run_no_policy_covers_says_the_workflow_approved_it() -> None:
    events = [*story_of_an_approved_plan()[:2], story_of_an_approved_plan()[-1]]
    [run] = fold(events)
    assert dict(facts("HR", run, events[-1]))["Approved by"] == "workflow"


def test_a_denied_plan_keeps_why_it_waited_and_no_one_approved_it() -> None:
    events = [
        *story_of_an_approved_plan()[:3],
        RunDenied(run_id=RUN, job_id=JOB, id="d", by="bob", reason="not now", at=AT),
    ]
    [run] = fold(events)
    assert (run.state, run.waited, run.reason) == ("denied", WHY, "by bob: not now")
    assert approvers(run) == []
    told = dict(facts("HR", run, events[-1]))
    assert "Approved by" not in told and told["Waited for approval"] == WHY
