"""A collection run as a sequence (core/collections.py): one job at a time, abort or
continue on a failure, cancel, and events seen twice changing nothing."""

from __future__ import annotations

from datetime import UTC, datetime

from core.collections import begin, cancel, step_ended
from schemas.collections import Collection, CollectionStep

AT = datetime(2026, 3, 9, 6, tzinfo=UTC)


def collection(*steps: tuple[str, str]) -> Collection:
    return Collection(
        id="nightly",
        jobs=[CollectionStep(job=job, on_failure=on) for job, on in steps],  # type: ignore[arg-type]
    )


def outcomes(run: object) -> list[tuple[str, str, str]]:
    return [(s.job, s.outcome, s.run_id) for s in run.steps]  # type: ignore[attr-defined]


def test_jobs_run_one_after_the_other() -> None:
    run = begin(collection(("a", "abort"), ("b", "abort")), "R", "ada", "manual", AT)
    assert outcomes(run) == [("a", "running", "R-1"), ("b", "pending", "")]
    after = step_ended(run, "R-1", "finished with errors", AT)
    assert after is not None and outcomes(after)[1] == ("b", "running", "R-2")
    assert outcomes(after)[0] == ("a", "finished with errors", "R-1")  # no failure
    done = step_ended(after, "R-2", "finished", AT)
    assert done is not None and done.state == "finished" and done.ended


def test_a_failure_aborts_or_the_collection_goes_on() -> None:
    run = begin(collection(("a", "abort"), ("b", "abort")), "R", "ada", "manual", AT)
    aborted = step_ended(run, "R-1", "failed", AT)
    assert aborted is not None and aborted.state == "aborted"
    assert outcomes(aborted) == [("a", "failed", "R-1"), ("b", "skipped", "")]
    run = begin(collection(("a", "continue"), ("b", "abort")), "R", "ada", "manual", AT)
    on = step_ended(run, "R-1", "denied", AT)
    assert on is not None and on.state == "running" and on.current == 1
    end = step_ended(on, "R-2", "finished", AT)
    assert end is not None and end.state == "finished with failures"


def test_an_end_seen_twice_or_of_another_run_changes_nothing() -> None:
    run = begin(collection(("a", "abort"), ("b", "abort")), "R", "ada", "manual", AT)
    after = step_ended(run, "R-1", "finished", AT)
    assert after is not None
    assert step_ended(after, "R-1", "finished", AT) is None
    assert step_ended(after, "S-2", "failed", AT) is None


def test_a_cancel_stops_the_running_job_and_skips_the_rest() -> None:
    run = begin(collection(("a", "abort"), ("b", "abort")), "R", "ada", "manual", AT)
    cancelled = cancel(run, "bob", AT)
    assert cancelled is not None and (cancelled.state, cancelled.by) == ("cancelled", "bob")
    assert outcomes(cancelled) == [("a", "cancelled", "R-1"), ("b", "skipped", "")]
    assert cancel(cancelled, "bob", AT) is None
    assert step_ended(cancelled, "R-1", "cancelled", AT) is None
