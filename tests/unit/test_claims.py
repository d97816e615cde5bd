"""A job's claim (core/claims.py): the one run of the job let through and the runs that
wait for it, in turn; and a waiting run as `idsync run show|list` tell it (core/runs.py)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import msgspec

from core.claims import JobClaim, release, take
from core.runs import fold
from schemas.events import Event, RunApproved, RunCancelled, RunQueued, RunRequested

JOB = "hr"
T0 = datetime(2026, 12, 7, 22, 0, tzinfo=UTC)


def asked(run_id: str, seconds: float = 0) -> RunRequested:
    return RunRequested(
        run_id=run_id, job_id=JOB, requested_by="ada", at=T0 + timedelta(seconds=seconds)
    )


def test_the_first_request_holds_the_job_and_the_others_wait_in_turn() -> None:
    claim = take(None, asked("a"), T0)
    assert claim is not None and claim.run_id == "a" and claim.since == T0
    claim = take(claim, asked("b"), T0)
    claim = take(claim, asked("c"), T0)
    assert claim is not None and claim.runs == ["a", "b", "c"]


def test_a_claim_stays_small_however_many_keys_the_runs_waiting_were_asked_for() -> None:
    """A request may name tens of thousands of keys (as many as one message holds): the
    claim names its runs only, so that it stays one message however many wait."""
    keys = [f"person-{i:07d}@example.org" for i in range(30_000)]
    claim = take(None, asked("a"), T0)
    for run_id in ("b", "c", "d", "e"):
        big = RunRequested(run_id=run_id, job_id=JOB, requested_by="crm", keys=keys)
        claim = take(claim, big, T0)
    assert claim is not None and claim.runs == ["a", "b", "c", "d", "e"]
    assert len(msgspec.json.encode(claim)) < 200


def test_a_request_delivered_again_changes_nothing() -> None:
    claim = take(take(None, asked("a"), T0), asked("b"), T0)
    assert take(claim, asked("a"), T0) is None
    assert take(claim, asked("b"), T0) is None


def test_the_end_of_the_run_holding_the_job_gives_it_to_the_first_still_waiting() -> None:
    claim = JobClaim(job_id=JOB, run_id="a", queue=["b", "c"])
    later = T0 + timedelta(minutes=5)
    # b was cancelled while it waited, its end not seen yet: it is passed over.
    after = release(claim, {"a", "b"}, later)
    assert after is not None and after.runs == ["c"] and after.since == later
    freed = release(after, {"c"}, later)
    assert freed is not None and freed.run_id == "" and freed.since is None
    assert freed.queue == []


def test_a_waiting_run_that_ends_leaves_the_queue_and_the_holder_keeps_the_job() -> None:
    claim = JobClaim(job_id=JOB, run_id="a", queue=["b", "c"])
    after = release(claim, {"b"}, T0)
    assert after is not None and after.runs == ["a", "c"]
    assert release(after, {"zzz"}, T0) is None  # an end of a run it does not know
    assert release(None, {"a"}, T0) is None


def test_a_waiting_run_is_told_waiting_for_the_run_going_on_then_its_turn_comes() -> None:
    events: list[Event] = [
        asked("b", 1),
        RunQueued(run_id="b", job_id=JOB, behind="a", behind_state="it is being applied"),
    ]
    [waiting] = fold(events)
    assert waiting.state == "waiting: run a"
    assert waiting.reason == (
        "job hr has run a going on (it is being applied): this run starts once it (and any "
        "run asked for before this one) has ended"
    )
    [approved] = fold([*events, RunApproved(run_id="b", job_id=JOB, approved_by="workflow")])
    assert (approved.state, approved.reason, approved.waited) == ("approved", "", "")
    [cancelled] = fold([*events, RunCancelled(run_id="b", job_id=JOB, by="ada")])
    assert (cancelled.state, cancelled.reason) == ("cancelled", "by ada")


def test_a_wait_said_after_the_run_was_let_through_tells_nothing() -> None:
    """Its turn came between the claim and the event (the run before it ended then)."""
    approved = RunApproved(run_id="b", job_id=JOB, approved_by="workflow")
    late = RunQueued(run_id="b", job_id=JOB, behind="a")
    [story] = fold([asked("b"), approved, late])
    assert (story.state, story.reason) == ("approved", "")
