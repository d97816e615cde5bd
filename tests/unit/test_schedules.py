"""The next scheduled run `idsync job list` shows: the scheduler's own next fire time."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from schemas.jobs import Endpoint, FieldMap, Job, ObjectMapping, Schedule
from services.cli.schedules import next_run, schedule_text
from services.scheduler.schedule import Fired

NOW = datetime(2026, 3, 9, 10, 17, 42, tzinfo=UTC)


def job(every: str | None = None, enabled: bool = True) -> Job:
    return Job(
        id="hr",
        source=Endpoint(connection="files", file="people.csv"),
        destination=Endpoint(connection="db", table="people"),
        objects=[ObjectMapping(keys=["id"], fields=[FieldMap(to="id")])],
        schedule=Schedule(every=every) if every else None,
        enabled=enabled,
    )


@pytest.mark.parametrize(
    ("every", "expected"),
    [
        ("1h", datetime(2026, 3, 9, 11, 0, tzinfo=UTC)),
        ("15m", datetime(2026, 3, 9, 10, 30, tzinfo=UTC)),
        ("30s", datetime(2026, 3, 9, 10, 18, tzinfo=UTC)),
        ("1d", datetime(2026, 3, 10, tzinfo=UTC)),
    ],
)
def test_the_next_run_is_the_next_aligned_fire_time(every: str, expected: datetime) -> None:
    assert next_run(job(every), NOW) == expected
    assert schedule_text(job(every)) == f"every {every}"


def test_it_is_when_the_scheduler_fires() -> None:
    fired = Fired()
    assert fired.due("hr", NOW, 900)[0] is None  # first seen: it waits for the next slot
    upcoming = next_run(job("15m"), NOW)
    assert upcoming is not None
    assert fired.due("hr", upcoming - timedelta(seconds=1), 900)[0] is None
    assert fired.due("hr", upcoming, 900)[0] == upcoming


def test_a_disabled_or_unscheduled_job_has_no_next_run() -> None:
    assert next_run(job("1h", enabled=False), NOW) is None
    assert next_run(job(), NOW) is None
    assert schedule_text(job()) == "manual only"
