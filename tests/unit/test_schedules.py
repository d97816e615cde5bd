"""When schedules fire (core/schedules.py): every kind, in a zone, across daylight-saving
changes; what is due after a pause; and what `idsync job list` shows. The clock is an
argument: nothing here waits."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from itertools import islice, pairwise
from zoneinfo import ZoneInfo

import pytest

from core.errors import BadInput
from core.schedules import describe, due, fingerprint, fires_after, named, next_fire, problems
from core.upcoming import next_run, schedule_text
from schemas.jobs import Endpoint, FieldMap, Job, ObjectMapping, Schedule

NONE = "expected exactly one of every, once, daily, weekly, monthly, cron, got"
NOW = datetime(2026, 3, 9, 10, 17, 42, tzinfo=UTC)
PARIS = ZoneInfo("Europe/Paris")
NEW_YORK = ZoneInfo("America/New_York")


def job(*schedules: Schedule, enabled: bool = True, single: bool = True) -> Job:
    first = schedules[0] if schedules and single else None
    return Job(
        id="hr",
        source=Endpoint(connection="files", file="people.csv"),
        destination=Endpoint(connection="db", table="people"),
        objects=[ObjectMapping(keys=["id"], fields=[FieldMap(to="id")])],
        schedule=first,
        schedules=list(schedules[1:] if first else schedules),
        enabled=enabled,
    )


def fires(schedule: Schedule, after: datetime, count: int) -> list[datetime]:
    return list(islice(fires_after(schedule, after), count))


def local(
    year: int,
    month: int,
    day: int,
    hour: int,
    minute: int,
    *,
    zone: ZoneInfo = PARIS,
    fold: int = 0,
) -> datetime:
    """A wall-clock time in `zone`, in UTC (`fold=1`: the second of a repeated hour)."""
    return datetime(year, month, day, hour, minute, tzinfo=zone, fold=fold).astimezone(UTC)


@pytest.mark.parametrize(
    ("every", "expected"),
    [
        ("1h", datetime(2026, 3, 9, 11, 0, tzinfo=UTC)),
        ("15m", datetime(2026, 3, 9, 10, 30, tzinfo=UTC)),
        ("30s", datetime(2026, 3, 9, 10, 18, tzinfo=UTC)),
        ("1d", datetime(2026, 3, 10, tzinfo=UTC)),
    ],
)
def test_every_fires_at_multiples_of_its_interval_as_before(every: str, expected: datetime) -> None:
    assert next_run(job(Schedule(every=every)), NOW) == expected
    assert schedule_text(job(Schedule(every=every))) == f"every {every}"


def test_a_new_schedule_fires_first_at_its_next_time_not_at_once() -> None:
    # The scheduler records a schedule first seen "now": nothing is due until it fires.
    assert due(Schedule(every="15m"), NOW, NOW).fire_at is None
    upcoming = next_fire(Schedule(every="15m"), NOW)
    assert upcoming is not None
    assert due(Schedule(every="15m"), NOW, upcoming - timedelta(seconds=1)).fire_at is None
    assert due(Schedule(every="15m"), NOW, upcoming) == due(Schedule(every="15m"), NOW, upcoming)
    assert due(Schedule(every="15m"), NOW, upcoming).fire_at == upcoming
    assert due(Schedule(every="15m"), NOW, upcoming).missed_total == 0


def test_daily_times_are_wall_clock_times_in_the_zone() -> None:
    schedule = Schedule(daily=["18:30", "06:00"], zone="Europe/Paris")
    assert fires(schedule, local(2026, 1, 5, 12, 0), 3) == [
        local(2026, 1, 5, 18, 30),
        local(2026, 1, 6, 6, 0),
        local(2026, 1, 6, 18, 30),
    ]
    # Winter (UTC+1) and summer (UTC+2): the same local time, another UTC hour.
    assert next_fire(schedule, local(2026, 1, 5, 12, 0)) == datetime(2026, 1, 5, 17, 30, tzinfo=UTC)
    assert next_fire(schedule, local(2026, 7, 5, 12, 0)) == datetime(2026, 7, 5, 16, 30, tzinfo=UTC)


def test_a_time_the_clocks_skip_fires_once_when_they_change() -> None:
    # Paris, 29 March 2026: 02:00 becomes 03:00; there is no 02:30 that night.
    schedule = Schedule(daily="02:30", zone="Europe/Paris")
    found = fires(schedule, local(2026, 3, 28, 12, 0), 3)
    assert found == [
        local(2026, 3, 29, 3, 0),  # once, at the change (as Debian's cron does)
        local(2026, 3, 30, 2, 30),
        local(2026, 3, 31, 2, 30),
    ]
    assert len({at.date() for at in found}) == 3
    # The scheduler down across it: it is one fire, run once.
    later = local(2026, 3, 29, 3, 0) + timedelta(seconds=30)
    skipped = due(schedule, local(2026, 3, 29, 0, 0), later)
    assert skipped.fire_at == local(2026, 3, 29, 3, 0) and skipped.missed_total == 0


def test_a_time_the_clocks_repeat_fires_once_the_first_time() -> None:
    # Paris, 25 October 2026: 03:00 becomes 02:00 again; 02:30 happens twice.
    schedule = Schedule(daily="02:30", zone="Europe/Paris")
    found = fires(schedule, local(2026, 10, 24, 12, 0), 2)
    assert found == [local(2026, 10, 25, 2, 30, fold=0), local(2026, 10, 26, 2, 30)]
    second = local(2026, 10, 25, 2, 30, fold=1)
    assert found[0] == second - timedelta(hours=1)
    # A scheduler ticking through the repeated hour: nothing more is due at its second 02:30.
    assert due(schedule, found[0], second + timedelta(seconds=1)).fire_at is None


def test_a_cron_of_every_few_minutes_follows_real_time_through_the_repeated_hour() -> None:
    schedule = Schedule(cron="0,30 * * * *", zone="Europe/Paris")
    found = fires(schedule, local(2026, 10, 25, 1, 45), 6)
    # 02:00 and 02:30 twice each (summer time, then winter time): every half hour of real time.
    assert [b - a for a, b in pairwise(found)] == [timedelta(minutes=30)] * 5


def test_cron_in_new_york_across_its_spring_change() -> None:
    # New York, 8 March 2026: 02:00 becomes 03:00.
    schedule = Schedule(cron="30 2 * * *", zone="America/New_York")
    assert fires(schedule, local(2026, 3, 7, 12, 0, zone=NEW_YORK), 2) == [
        local(2026, 3, 8, 3, 0, zone=NEW_YORK),
        local(2026, 3, 9, 2, 30, zone=NEW_YORK),
    ]


def test_weekly_on_days_at_times() -> None:
    schedule = Schedule(weekly=["mon", "Thursday"], at=["07:00", "19:00"], zone="Europe/Paris")
    found = fires(schedule, local(2026, 3, 9, 8, 0), 4)  # Monday 9 March, 08:00
    assert [at.astimezone(PARIS).strftime("%a %H:%M") for at in found] == [
        "Mon 19:00",
        "Thu 07:00",
        "Thu 19:00",
        "Mon 07:00",
    ]


def test_monthly_on_a_day_and_on_the_last_day() -> None:
    last = Schedule(monthly="last", at="23:00", zone="Europe/Paris")
    assert [at.astimezone(PARIS).date().isoformat() for at in fires(last, NOW, 3)] == [
        "2026-03-31",
        "2026-04-30",
        "2026-05-31",
    ]
    thirty_first = Schedule(monthly=31, at="06:00")
    assert [at.date().isoformat() for at in fires(thirty_first, NOW, 3)] == [
        "2026-03-31",
        "2026-05-31",  # April has no 31st: passed over
        "2026-07-31",
    ]


def test_once_fires_once_then_never() -> None:
    schedule = Schedule(once="2026-12-24T18:00", zone="Europe/Paris")
    assert fires(schedule, NOW, 5) == [local(2026, 12, 24, 18, 0)]
    assert next_fire(schedule, local(2026, 12, 24, 18, 0)) is None
    assert next_run(job(schedule), local(2026, 12, 25, 0, 0)) is None
    # On a night the clocks skip its time: as a daily one, at the change.
    skipped = Schedule(once="2026-03-29T02:30", zone="Europe/Paris")
    assert fires(skipped, NOW, 2) == [local(2026, 3, 29, 3, 0)]


def test_fires_missed_while_no_scheduler_ran_are_listed_and_run_once() -> None:
    schedule = Schedule(every="1h")
    stopped = datetime(2026, 3, 9, 5, 30, tzinfo=UTC)
    back = datetime(2026, 3, 9, 10, 0, 20, tzinfo=UTC)
    found = due(schedule, stopped, back)
    assert found.fire_at == datetime(2026, 3, 9, 10, 0, tzinfo=UTC)  # one run: the latest
    assert found.missed == [datetime(2026, 3, 9, h, 0, tzinfo=UTC) for h in (6, 7, 8, 9)]
    assert found.missed_total == 4
    # The latest fire itself found long after its time was missed too.
    late = due(schedule, stopped, datetime(2026, 3, 9, 6, 20, tzinfo=UTC))
    assert late.fire_at == datetime(2026, 3, 9, 6, 0, tzinfo=UTC)
    assert late.missed == [late.fire_at] and late.missed_total == 1
    # Months away: counted up to a point, one run all the same.
    long = due(Schedule(every="1m"), stopped - timedelta(days=60), back)
    assert long.fire_at == datetime(2026, 3, 9, 10, 0, tzinfo=UTC)
    assert long.missed_total >= 10_000 and len(long.missed) == 50


def test_several_schedules_the_next_run_is_the_first_of_the_enabled_ones() -> None:
    hourly = Schedule(every="1h", name="hourly")
    nightly = Schedule(cron="0 2 * * *", zone="Europe/Paris", name="nightly")
    soon = Schedule(daily="11:30", name="late-morning", enabled=False)
    both = job(hourly, nightly, soon)
    assert [name for name, _ in named(both)] == ["hourly", "nightly", "late-morning"]
    assert next_run(both, NOW) == datetime(2026, 3, 9, 11, 0, tzinfo=UTC)
    assert next_run(job(nightly, soon, single=False), NOW) == local(2026, 3, 10, 2, 0)
    assert schedule_text(both) == (
        "every 1h; cron 0 2 * * * Europe/Paris; daily at 11:30 (disabled)"
    )
    assert next_run(job(hourly, enabled=False), NOW) is None
    assert schedule_text(job()) == "manual only"
    assert [name for name, _ in named(job(Schedule(daily="06:00"), Schedule(every="1h")))] == [
        "daily",
        "every",
    ]


def test_a_changed_schedule_is_another_one_a_disabled_one_the_same() -> None:
    daily = Schedule(daily="06:00", zone="Europe/Paris")
    assert fingerprint(daily) == fingerprint(Schedule(daily="06:00", zone="Europe/Paris"))
    assert fingerprint(daily) == fingerprint(
        Schedule(daily="06:00", zone="Europe/Paris", enabled=False)
    )
    assert fingerprint(daily) != fingerprint(Schedule(daily="07:00", zone="Europe/Paris"))


@pytest.mark.parametrize(
    ("schedule", "expected"),
    [
        (
            Schedule(),
            [("", f"{NONE} none")],
        ),
        (
            Schedule(every="1h", cron="* * * * *"),
            [
                (
                    "",
                    f"{NONE} every and cron",
                )
            ],
        ),
        (
            Schedule(cron="61 * * * *"),
            [("cron", 'expected a cron expression, got "61 * * * *": Bad minute')],
        ),
        (
            Schedule(daily="6h"),
            [("daily", 'expected a time of day such as "06:00" or "18:30", got "6h"')],
        ),
        (
            Schedule(weekly=["mon", "funday"]),
            [("weekly", 'expected a day such as "mon", "tue" … "sun", got "funday"')],
        ),
        (
            Schedule(monthly=32),
            [("monthly", 'expected a day of the month from 1 to 31 or "last", got 32')],
        ),
        (
            Schedule(monthly=1, at="25:00"),
            [("at", 'expected a time of day such as "06:00" or "18:30", got "25:00"')],
        ),
        (
            Schedule(once="2026-02-30T10:00"),
            [
                (
                    "once",
                    'expected a date that exists, got "2026-02-30T10:00" '
                    "(day is out of range for month)",
                )
            ],
        ),
        (
            Schedule(daily="06:00", zone="Europe/Pariss"),
            [
                (
                    "zone",
                    'expected an IANA time zone such as "Europe/Paris" or "UTC", '
                    'got "Europe/Pariss"',
                )
            ],
        ),
        (
            Schedule(every="1h", zone="Europe/Paris"),
            [
                (
                    "zone",
                    "an `every` schedule counts elapsed time and takes no zone: for times of "
                    "day in Europe/Paris, use daily, weekly, monthly or cron",
                )
            ],
        ),
        (
            Schedule(daily="06:00", at="07:00"),
            [
                (
                    "at",
                    'goes with weekly and monthly schedules (daily = ["06:00"] takes its own '
                    "times), not with daily",
                )
            ],
        ),
    ],
)
def test_a_schedule_that_does_not_read_says_which_field_and_why(
    schedule: Schedule, expected: list[tuple[str, str]]
) -> None:
    assert problems(schedule) == expected


def test_a_bad_schedule_fires_never_and_reads_as_such() -> None:
    with pytest.raises(BadInput):
        next_fire(Schedule(cron="bad"), NOW)
    assert next_run(job(Schedule(cron="bad")), NOW) is None
    assert describe(Schedule()) == "?"
    assert describe(Schedule(monthly="last", at=["06:00", "18:00"], zone="Asia/Tokyo")) == (
        "monthly on day last at 06:00, 18:00 Asia/Tokyo"
    )


def test_a_once_gone_by_is_noted_when_the_job_is_applied() -> None:
    from core.upcoming import spent

    now = datetime(2026, 12, 7, 5, 30, tzinfo=UTC)
    past = Schedule(once="2020-01-01T00:00")
    assert spent(job(past), now) == [
        "schedule once (once at 2020-01-01T00:00) will never fire: its time has passed"
    ]
    assert spent(job(Schedule(once="2026-12-24T18:00", zone="Europe/Paris")), now) == []
    assert spent(job(Schedule(every="15m")), now) == []
    assert spent(job(Schedule(once="2020-01-01T00:00", enabled=False)), now) == []
