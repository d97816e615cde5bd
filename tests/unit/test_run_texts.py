"""A run's summary as the command line and the mails show it: every statistic, and a
duration a fast run does not round to nothing."""

from __future__ import annotations

import pytest

from core.run_texts import COUNT_NAMES, STAT_NAMES, counts_line, duration, stats_line
from schemas.events import RunFinished
from schemas.plan import PlanCounts, RunStats
from services.cli.output import event_line
from services.cli.watch import describe_end
from services.notifier import body


@pytest.mark.parametrize(
    ("seconds", "text"),
    [
        (0.0, "0 ms"),
        (0.0424, "42 ms"),
        (0.9994, "999 ms"),
        (1.0, "1.0 s"),
        (3.26, "3.3 s"),
        (125, "2 min 05 s"),
        (3720, "1 h 02 min"),
    ],
)
def test_a_duration_in_the_unit_that_says_something(seconds: float, text: str) -> None:
    assert duration(seconds) == text


def test_the_summary_leaves_no_statistic_out() -> None:
    # dead_letters are counted in failed as well: the summary shows failed.
    assert set(STAT_NAMES) == set(RunStats.__struct_fields__) - {"dead_letters"}
    assert vars(body)["STAT_NAMES"] is STAT_NAMES  # the mails count as the command line does
    line = stats_line(RunStats(read=5, updated=1, enabled=2, unchanged=2))
    assert line == (
        "5 read, 0 created, 1 updated, 0 deleted, 0 disabled, 0 moved, 2 enabled, "
        "2 unchanged, 0 skipped, 0 failed"
    )


def test_a_plan_shows_every_count_disables_and_moves_included() -> None:
    assert set(COUNT_NAMES) == set(PlanCounts.__struct_fields__)
    assert vars(body)["COUNT_NAMES"] is COUNT_NAMES  # the mails count as the command line does
    line = counts_line(PlanCounts(create=1, disable=2, move=3, unchanged=4))
    assert line == (
        "1 create, 0 update, 0 delete, 2 disable, 3 move, 0 enable, 4 unchanged, 0 skipped"
    )


def test_tail_shows_every_count_of_a_plan_moves_included() -> None:
    from schemas.events import RunPlanned

    planned = RunPlanned(
        run_id="r1",
        job_id="hr",
        id="r1.planned",
        plan_hash="abcdef0123456789",
        counts=PlanCounts(move=30, disable=2, enable=1, unchanged=220, skipped=4),
        source_records=220,
        destination_records=250,
        batches=1,
    )
    assert event_line(planned).endswith(
        "0 create, 0 update, 0 delete, 2 disable, 30 move, 1 enable, 220 unchanged, "
        "4 skipped; 1 batches; plan abcdef012345"
    )


def test_a_finished_run_says_how_long_it_took_and_what_it_enabled() -> None:
    end = RunFinished(
        run_id="r1",
        job_id="hr",
        id="r1.finished",
        stats=RunStats(read=3, enabled=3),
        plan_hash="abc",
        seconds=0.042,
    )
    said = describe_end("r1", end)
    assert said.startswith("run r1 finished in 42 ms\n") and "3 enabled" in said
    assert "3 enabled" in event_line(end) and event_line(end).endswith("in 42 ms")


def test_tail_tells_what_the_scheduler_and_the_collections_did() -> None:
    from datetime import UTC, datetime

    from schemas.events import (
        CollectionEnded,
        CollectionStepStarted,
        ScheduleMissed,
        ScheduleSkipped,
        StepOutcome,
    )

    at = datetime(2026, 3, 9, 6, tzinfo=UTC)
    skipped = ScheduleSkipped(
        run_id="s2", job_id="hr", schedule="hourly", fire_at=at, busy_run="s1", busy_state="running"
    )
    assert event_line(skipped).endswith(
        "schedule hourly: not started, run s1 had not ended (running)"
    )
    missed = ScheduleMissed(run_id="s3", job_id="hr", schedule="hourly", missed_total=4)
    assert "4 fire times passed with no scheduler; one run now" in event_line(missed)
    started = CollectionStepStarted(
        run_id="c1", job_id="nightly", step=2, steps=3, job="hr", step_run="c1-2"
    )
    assert event_line(started).endswith("job 2/3: hr, run c1-2")
    ended = CollectionEnded(
        run_id="c1",
        job_id="nightly",
        outcome="aborted",
        steps=[StepOutcome(job="a", outcome="failed"), StepOutcome(job="b", outcome="skipped")],
    )
    assert event_line(ended).endswith("aborted: a failed, b skipped")


def test_tail_says_a_plan_has_warnings_and_the_first_of_them() -> None:
    # An operator following the journal sees that the plan left absent objects alone,
    # and why, not only a count of skipped objects.
    from schemas.events import RunPlanned

    why = (
        "1 source record has values but an empty key (employee_id): it could be the 1 "
        "destination object missing from the source, so none is deleted in this run; give "
        "each record a key in the source, or leave such records out (the source's `where`)"
    )
    planned = RunPlanned(
        run_id="r1",
        job_id="hr",
        id="r1.planned",
        plan_hash="abcdef0123456789",
        counts=PlanCounts(unchanged=2, skipped=2),
        source_records=3,
        destination_records=3,
        batches=0,
        warnings=[why, 'source record skipped, empty key (employee_id): {"surname":"Bose"}'],
        warnings_total=2,
    )
    assert event_line(planned).endswith(
        f"2 skipped; 0 batches; plan abcdef012345; 2 warnings (idsync run show r1), "
        f"the first: {why}"
    )


def test_tail_says_who_decided_a_run_and_why_it_waits() -> None:
    # An approver following the journal sees why a run waits, for whom, and who approved,
    # denied or cancelled it: the lines said only the run's id.
    from schemas.events import RunApproved, RunAwaitingApproval, RunCancelled, RunDenied, RunExpired

    waits = RunAwaitingApproval(
        run_id="r1",
        job_id="hr",
        reason="10 deletes exceed the limit of 3 (the job's safety.min_count)",
        plan_hash="7054478b5d22aaaa",
        counts=PlanCounts(delete=10, unchanged=10),
        approvers=["ada", "bob"],
    )
    assert event_line(waits).endswith(
        "10 deletes exceed the limit of 3 (the job's safety.min_count); plan 7054478b5d22; "
        "approvers: ada, bob"
    )
    anyone = RunAwaitingApproval(run_id="r1", job_id="hr", reason="manual run asked for by root")
    assert event_line(anyone).endswith("manual run asked for by root; approvers: anyone")
    approved = RunApproved(
        run_id="r1", job_id="hr", approved_by="ada", plan_hash="7054478b5d22aaaa"
    )
    assert event_line(approved).endswith("by ada (plan 7054478b5d22)")
    assert event_line(RunApproved(run_id="r1", job_id="hr", approved_by="ada")).endswith("  by ada")
    denied = RunDenied(run_id="r1", job_id="hr", by="carol", reason="not during the audit")
    assert event_line(denied).endswith("by carol: not during the audit")
    assert event_line(
        RunCancelled(run_id="r1", job_id="hr", by="bob", reason="cancelled by bob")
    ).endswith("  by bob")
    expired = RunExpired(run_id="r1", job_id="hr", reason="nobody answered within 1d")
    assert event_line(expired).endswith("  nobody answered within 1d")
