"""A run's story (core/runs.py): the one fold of the journal that `idsync run list|show`
print and the notifier's mails tell — the same state, in the same words, the same
reasons, errors and dead letters whoever reads it."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import msgspec
import pytest

from core.runs import fold, story_at
from schemas.events import (
    Event,
    RunApproved,
    RunAwaitingApproval,
    RunBatchApplied,
    RunBatchDropped,
    RunCancelled,
    RunDeadLetter,
    RunDeliveryFailed,
    RunDenied,
    RunExpired,
    RunFailed,
    RunFinished,
    RunNotifyFailed,
    RunPlanned,
    RunRequested,
    RunStarted,
)
from schemas.plan import PlanCounts, RecordError, RunStats

RUN, JOB = "20261121T204800Z-3f9a1c", "hr"
T0 = datetime(2026, 11, 21, 20, 48, tzinfo=UTC)


def at(seconds: float) -> datetime:
    return T0 + timedelta(seconds=seconds)


def requested() -> RunRequested:
    return RunRequested(run_id=RUN, job_id=JOB, requested_by="ada", at=at(0))


def approved(by: str = "workflow", seconds: float = 1) -> RunApproved:
    return RunApproved(run_id=RUN, job_id=JOB, approved_by=by, id=f"a-{by}", at=at(seconds))


def planned(hash_: str = "h1") -> RunPlanned:
    return RunPlanned(
        run_id=RUN,
        job_id=JOB,
        plan_hash=hash_,
        counts=PlanCounts(create=2),
        source_records=2,
        destination_records=0,
        batches=1,
        errors=[RecordError(key="E3", action="map", message="no dept")],
        at=at(3),
    )


def dead_letter() -> RunDeadLetter:
    return RunDeadLetter(
        run_id=RUN, job_id=JOB, stage="batch", batch=1, changes=2, error="locked", at=at(4)
    )


def applied() -> RunBatchApplied:
    return RunBatchApplied(
        run_id=RUN,
        job_id=JOB,
        plan_hash="h1",
        batch=1,
        batches=1,
        changes=2,
        stats=RunStats(created=1, failed=1),
        errors=[RecordError(key="E2", action="create", message="refused")],
        at=at(5),
    )


def finished() -> RunFinished:
    stats = RunStats(read=2, created=1, failed=2)
    return RunFinished(
        run_id=RUN, job_id=JOB, stats=stats, plan_hash="h1", seconds=6.5, with_errors=True, at=at(7)
    )


def a_whole_run() -> list[Event]:
    started = RunStarted(run_id=RUN, job_id=JOB, runner="r1", attempt=2, at=at(2))
    return [requested(), approved(), started, planned(), dead_letter(), applied(), finished()]


def test_the_command_line_and_the_mails_tell_one_story() -> None:
    events = a_whole_run()
    [listed] = fold(events)
    assert listed == story_at(events, events[-1])
    assert listed.state == "finished with errors"
    assert (listed.requested_by, listed.approved_by, listed.approvals) == (
        "ada",
        "workflow",
        ["workflow"],
    )
    assert [(e.action, e.key) for e in listed.errors] == [("map", "E3"), ("create", "E2")]
    assert (listed.attempts, listed.source_records, listed.duration) == (2, 2, 6.5)
    # The dead letter stays in the story: why the run stopped on the way.
    assert listed.reason == "batch 1 failed its last delivery: locked"
    assert listed.events[-1] == "run.finished"


def test_a_story_is_told_as_it_stood_at_its_event() -> None:
    events = a_whole_run()
    waiting = story_at(events, events[4])
    assert waiting.state == "waiting: dead letter" and waiting.stats == RunStats()
    assert [e.key for e in waiting.errors] == ["E3"]  # the plan's; no batch applied yet


def test_an_event_not_read_back_yet_still_counts() -> None:
    events = a_whole_run()
    assert story_at(events[:-1], events[-1]).state == "finished with errors"


def test_other_runs_events_are_left_out() -> None:
    other = RunRequested(run_id="20261121T204900Z-000000", job_id=JOB, requested_by="bob")
    story = story_at([other, *a_whole_run()], a_whole_run()[-1])
    assert story.requested_by == "ada" and "bob" not in story.approvals


def test_a_dropped_batch_lets_the_run_go_on_and_says_who_dropped_it() -> None:
    dropped = RunBatchDropped(
        run_id=RUN, job_id=JOB, plan_hash="h1", batch=1, changes=2, by="bob", at=at(5)
    )
    events: list[Event] = [requested(), approved(), planned(), dead_letter(), dropped]
    [story] = fold(events)
    assert story.state == "applying"
    assert story.reason == "batch 1 dropped by bob after it failed its last delivery"
    assert story_at([*events, finished()], finished()).reason == story.reason


def test_everyone_who_approved_is_kept_and_the_last_approval_is_in_force() -> None:
    events: list[Event] = [requested(), approved(), planned(), approved("bob", 5)]
    [story] = fold(events)
    assert (story.approved_by, story.approvals, story.state) == (
        "bob",
        ["workflow", "bob"],
        "approved",
    )


@pytest.mark.parametrize(
    ("last", "state", "reason", "ended"),
    [
        (
            RunAwaitingApproval(run_id=RUN, job_id=JOB, reason="3 deletes", plan_hash="h2"),
            "awaiting approval",
            "3 deletes",
            False,
        ),
        (RunDenied(run_id=RUN, job_id=JOB, by="bob", reason="no"), "denied", "by bob: no", True),
        (RunCancelled(run_id=RUN, job_id=JOB, by="ada"), "cancelled", "by ada", True),
        (
            RunExpired(run_id=RUN, job_id=JOB, reason="nobody answered"),
            "expired",
            "nobody answered",
            True,
        ),
        (RunFailed(run_id=RUN, job_id=JOB, reason="bind refused"), "failed", "bind refused", True),
    ],
)
def test_each_state_has_one_wording(last: Event, state: str, reason: str, ended: bool) -> None:
    events: list[Event] = [requested(), approved(), planned(), last]
    [listed] = fold(events)
    assert listed == story_at(events, last)
    assert (listed.state, listed.reason, listed.ended_at is not None) == (state, reason, ended)


def test_a_plan_waiting_for_approval_brings_its_counts() -> None:
    counts = PlanCounts(delete=3)
    waiting = RunAwaitingApproval(
        run_id=RUN, job_id=JOB, reason="3 deletes", plan_hash="h2", counts=counts
    )
    story = story_at([requested(), approved(), waiting], waiting)
    assert (story.plan_hash, story.planned) == ("h2", counts)


def test_failed_attempts_and_mails_not_sent_are_told_without_changing_the_state() -> None:
    failed = RunDeliveryFailed(
        run_id=RUN,
        job_id=JOB,
        stage="batch",
        batch=1,
        error="locked",
        attempt=1,
        attempts=3,
        retry_in=0.5,
    )
    mail = RunNotifyFailed(run_id=RUN, job_id=JOB, reason="refused", about="run.finished")
    [story] = fold([*a_whole_run(), failed, mail])
    assert story.failed_attempts == ["batch 1: attempt 1 of 3 failed, trying again in 0.5s: locked"]
    assert story.mail_failures == ["refused"]
    assert story.state == "finished with errors"


def test_runs_are_listed_oldest_request_first() -> None:
    later = RunRequested(
        run_id="20261121T205000Z-000000", job_id=JOB, requested_by="bob", at=at(100)
    )
    assert [r.run_id for r in fold([later, *a_whole_run()])] == [RUN, later.run_id]


def test_a_run_with_two_dead_letters_still_waits_once_one_is_dropped() -> None:
    second = RunDeadLetter(
        run_id=RUN, job_id=JOB, stage="batch", batch=2, changes=2, error="locked", at=at(4.5)
    )
    dropped = RunBatchDropped(
        run_id=RUN, job_id=JOB, plan_hash="h1", batch=1, changes=2, by="bob", at=at(5)
    )
    events: list[Event] = [requested(), approved(), planned(), dead_letter(), second, dropped]
    [story] = fold(events)
    assert story.state == "waiting: dead letter"
    assert story.reason == (
        "batch 1 dropped by bob after it failed its last delivery; "
        "batch 2 still waits for a retry or a drop"
    )
    retried = msgspec.structs.replace(applied(), batch=2, at=at(6))
    assert story_at([*events, retried], retried).state == "applying"


def test_a_dead_letter_retried_and_applied_lets_the_run_go_on() -> None:
    events: list[Event] = [requested(), approved(), planned(), dead_letter(), applied()]
    [story] = fold(events)
    assert story.state == "applying"


def test_an_event_the_journal_holds_twice_is_told_once() -> None:
    """A batch delivered again after its runner published what it did and died before
    recording it, later than the journal's duplicate window: its event, stored again
    under the same id, tells its record errors once."""
    events = a_whole_run()
    again = events[5]  # applied(): batch 1, one record error
    events.insert(6, again)
    [story] = fold(events)
    assert [(e.action, e.key) for e in story.errors] == [("map", "E3"), ("create", "E2")]
    assert story.events.count("run.batch-applied") == 1
    assert story_at(events, events[-1]).errors == story.errors


def test_a_batch_applied_after_its_run_was_cancelled_counts_in_its_statistics() -> None:
    """The batch in flight when the run was cancelled completes after the cancel: the
    cancel's statistics (what the run's state held then) miss it, the story does not. A
    batch applied before the cancel is in the cancel's statistics already: told once."""

    def batch(number: int, seconds: float) -> RunBatchApplied:
        return RunBatchApplied(
            run_id=RUN,
            job_id=JOB,
            plan_hash="h1",
            batch=number,
            batches=3,
            changes=10,
            stats=RunStats(created=10),
            id=f"{RUN}.h1.{number}",  # as the runner names it, whatever the delivery
            at=at(seconds),
        )

    cancelled = RunCancelled(run_id=RUN, job_id=JOB, by="ada", stats=RunStats(created=10), at=at(6))
    events: list[Event] = [requested(), approved(), planned(), batch(1, 5), cancelled, batch(2, 7)]
    (story,) = fold([*events, batch(2, 7)])  # delivered twice: one id, told once
    assert story.state == "cancelled" and story.stats.created == 20
    assert story_at(events, cancelled).stats.created == 10, "as it stood at the cancel"
