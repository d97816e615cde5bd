"""`idsync job run --wait` on a run that finished with errors says which records failed
and why, as `idsync run show` does, instead of a bare count."""

from __future__ import annotations

import pytest

from schemas.events import Event, RunBatchApplied, RunFinished, RunPlanned
from schemas.plan import PlanCounts, RecordError, RunStats
from services.cli.ends import EXIT_WITH_ERRORS, Followed, print_end


def bad_date(key: str) -> RecordError:
    return RecordError(key=key, action="map", message=f'born: date "x{key}" does not match')


def events(planned: list[RecordError], applied: list[RecordError]) -> list[Event]:
    failed = len(planned) + len(applied)
    return [
        RunPlanned(
            run_id="r1",
            job_id="hr",
            plan_hash="h",
            counts=PlanCounts(update=2),
            source_records=9,
            destination_records=9,
            batches=1,
            errors=planned,
        ),
        RunBatchApplied(
            run_id="r1",
            job_id="hr",
            plan_hash="h",
            batch=1,
            batches=1,
            changes=2,
            stats=RunStats(failed=len(applied)),
            errors=applied,
        ),
        RunFinished(
            run_id="r1",
            job_id="hr",
            plan_hash="h",
            seconds=0.1,
            with_errors=True,
            stats=RunStats(read=9, failed=failed),
        ),
    ]


def followed_to_the_end(run: list[Event], capsys: pytest.CaptureFixture[str]) -> str:
    followed = Followed("r1", None)
    ends = [event for event in run if followed.take(event)]
    assert print_end("r1", ends[0], as_json=False, followed=followed) == EXIT_WITH_ERRORS
    return capsys.readouterr().err


def test_the_failed_records_are_listed_with_their_reasons(
    capsys: pytest.CaptureFixture[str],
) -> None:
    update = RecordError(key="ann", action="update", message="constraint violation")
    said = followed_to_the_end(events([bad_date("bob")], [update]), capsys)
    assert said.splitlines()[2:] == [
        '  error: map bob: born: date "xbob" does not match',
        "  error: update ann: constraint violation",
    ]


def test_many_failed_records_show_the_first_and_where_the_rest_are(
    capsys: pytest.CaptureFixture[str],
) -> None:
    said = followed_to_the_end(events([bad_date(f"k{n}") for n in range(8)], []), capsys)
    lines = said.splitlines()
    assert lines[2] == '  error: map k0: born: date "xk0" does not match'
    assert len(lines) == 2 + 5 + 1
    assert lines[-1] == "  … and 3 more: `idsync run show r1 --errors 8` lists them all"
