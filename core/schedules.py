"""When schedules fire, and what is due: pure functions of a schedule and the clock.

Every fire time is an instant in UTC that every scheduler computes alike (so the run id
derived from it is one run, whoever asks). `every` counts elapsed time from the epoch;
the calendar kinds (once, daily, weekly, monthly, cron) are wall-clock times in the
schedule's zone, found by cronsim, which handles daylight saving as Debian's cron does:
a time the clocks skip fires once, when the clocks change; a time they repeat fires
once, the first time; a schedule of every few minutes follows real time. Time zones
come from the standard library's zoneinfo (its tzdata package where the system has none).
"""

from __future__ import annotations

import heapq
import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta, tzinfo
from functools import lru_cache
from typing import Protocol
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import msgspec
from cronsim import CronSim, CronSimError

from core.errors import BadInput
from core.words import show
from schemas.jobs import Schedule

from .checks.intervals import parse_interval

KINDS = ("every", "once", "daily", "weekly", "monthly", "cron")
DAYS = ("sun", "mon", "tue", "wed", "thu", "fri", "sat")
"""Cron's numbering: sun is 0."""
MISSED_LISTED = 50
"""The missed fire times an event lists (the count goes on)."""
MISSED_COUNTED = 10_000
"""Missed fire times are counted up to this many."""
GRACE = timedelta(seconds=60)
"""A fire found later than this after its time was missed (no scheduler was running)."""
_TIME = re.compile(r"([01]?\d|2[0-3]):([0-5]\d)")
_ONCE = re.compile(r"(\d{4})-(\d{2})-(\d{2})[T ]([01]?\d|2[0-3]):([0-5]\d)")


def kind(schedule: Schedule) -> str:
    """Which kind it is (the first one set); BadInput when none or several are."""
    set_ = [name for name in KINDS if getattr(schedule, name) is not None]
    if len(set_) != 1:
        got = " and ".join(set_) if set_ else "none"
        raise BadInput(f"expected exactly one of {', '.join(KINDS)}, got {got}")
    return set_[0]


class Scheduled(Protocol):
    """A job or a collection: what has schedules."""

    @property
    def all_schedules(self) -> list[Schedule]: ...


def named(job: Scheduled) -> list[tuple[str, Schedule]]:
    """The schedules of a job (or a collection) with their names: their own, else their
    kind."""
    return [(name_of(s), s) for s in job.all_schedules]


def name_of(schedule: Schedule) -> str:
    """Its own name, else its kind."""
    if schedule.name:
        return schedule.name
    try:
        return kind(schedule)
    except BadInput:
        return "schedule"


@lru_cache(maxsize=256)
def zone(name: str) -> tzinfo:
    """The IANA zone `name`; BadInput for one that does not exist."""
    if name.upper() == "UTC":
        return UTC
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise BadInput(
            f'expected an IANA time zone such as "Europe/Paris" or "UTC", got {show(name)}'
        ) from None


def times_of(value: str | list[str]) -> list[tuple[int, int]]:
    """(hour, minute) of "06:00" or ["06:00", "18:30"]."""
    texts = [value] if isinstance(value, str) else value
    if not texts:
        raise BadInput('expected a time such as "06:00", got []')
    found = []
    for text in texts:
        match = _TIME.fullmatch(text.strip()) if isinstance(text, str) else None
        if match is None:
            raise BadInput(f'expected a time of day such as "06:00" or "18:30", got {show(text)}')
        found.append((int(match[1]), int(match[2])))
    return sorted(set(found))


def _day_numbers(days: list[str]) -> list[int]:
    if not days:
        raise BadInput('expected days such as ["mon", "fri"], got []')
    numbers = []
    for day in days:
        text = day.strip().lower()[:3] if isinstance(day, str) else ""
        if text not in DAYS or (isinstance(day, str) and len(day.strip()) < 3):
            raise BadInput(f'expected a day such as "mon", "tue" … "sun", got {show(day)}')
        numbers.append(DAYS.index(text))
    return sorted(set(numbers))


def _month_day(value: int | str) -> str:
    if isinstance(value, str) and value.strip().lower() == "last":
        return "L"
    if isinstance(value, int) and not isinstance(value, bool) and 1 <= value <= 31:
        return str(value)
    raise BadInput(f'expected a day of the month from 1 to 31 or "last", got {show(value)}')


def cron_lines(schedule: Schedule) -> list[str]:
    """The cron expressions a calendar schedule stands for (one per time of day)."""
    if schedule.cron is not None:
        return [schedule.cron]
    if schedule.daily is not None:
        return [f"{m} {h} * * *" for h, m in times_of(schedule.daily)]
    if schedule.weekly is not None:
        days = ",".join(str(d) for d in _day_numbers(schedule.weekly))
        return [f"{m} {h} * * {days}" for h, m in times_of(schedule.at)]
    if schedule.monthly is not None:
        day = _month_day(schedule.monthly)
        return [f"{m} {h} {day} * *" for h, m in times_of(schedule.at)]
    return []


def _once_local(text: str) -> datetime:
    match = _ONCE.fullmatch(text.strip())
    if match is None:
        raise BadInput(f'expected a date and time such as "2026-12-24T18:00", got {show(text)}')
    try:
        year, month, day, hour, minute = (int(part) for part in match.groups())
        return datetime(year, month, day, hour, minute)
    except ValueError as error:
        raise BadInput(f"expected a date that exists, got {show(text)} ({error})") from None


def problems(schedule: Schedule) -> list[tuple[str, str]]:
    """What is wrong with the schedule: (its field, what was expected) for each problem."""
    try:
        what = kind(schedule)
    except BadInput as error:
        return [("", str(error))]
    found: list[tuple[str, str]] = []
    try:
        zone(schedule.zone)
    except BadInput as error:
        found.append(("zone", str(error)))
    try:
        if what == "every":
            parse_interval(str(schedule.every))
        elif what == "once":
            _once_local(str(schedule.once))
        else:
            for line in cron_lines(schedule):
                try:
                    CronSim(line, datetime(2000, 1, 1, tzinfo=UTC))
                except CronSimError as error:
                    raise BadInput(
                        f"expected a cron expression, got {show(line)}: {error}"
                    ) from None
    except BadInput as error:
        found.append(
            (
                "at" if "time of day" in str(error) and what in ("weekly", "monthly") else what,
                str(error),
            )
        )
    if what == "every" and schedule.zone != "UTC":
        found.append(
            (
                "zone",
                "an `every` schedule counts elapsed time and takes no zone: for times of day "
                f"in {schedule.zone}, use daily, weekly, monthly or cron",
            )
        )
    if schedule.at != "00:00" and what not in ("weekly", "monthly"):
        found.append(
            (
                "at",
                f'goes with weekly and monthly schedules (daily = ["06:00"] takes its own '
                f"times), not with {what}",
            )
        )
    return found


def fires_after(schedule: Schedule, after: datetime) -> Iterator[datetime]:
    """The schedule's fire times strictly after `after`, in UTC, in order (endless for all
    but `once`). Raises BadInput for a schedule `check` refuses."""
    what = kind(schedule)
    if what == "every":
        return _every_after(parse_interval(str(schedule.every)), after)
    where = zone(schedule.zone)
    if what == "once":
        return _once_after(_once_local(str(schedule.once)), where, after)
    return _merged(
        [_cron_after(_cron(line, after.astimezone(where))) for line in cron_lines(schedule)]
    )


def _cron(line: str, start: datetime) -> CronSim:
    """cronsim's iterator over `line` from `start`; BadInput for a line it refuses (five
    fields: cronsim's optional seconds would fire more often than a scheduler looks)."""
    if len(line.split()) != 5:
        raise BadInput(
            "expected a cron expression of five fields (minute hour day-of-month month "
            f"day-of-week), got {show(line)}"
        )
    try:
        return CronSim(line, start)
    except CronSimError as error:
        raise BadInput(f"expected a cron expression, got {show(line)}: {error}") from None


def _every_after(every: float, after: datetime) -> Iterator[datetime]:
    seconds = after.timestamp()
    slot = seconds - (seconds % every)
    while True:
        slot += every
        yield datetime.fromtimestamp(slot, tz=UTC)


def _cron_after(found: CronSim) -> Iterator[datetime]:
    for local in found:
        yield local.astimezone(UTC)


def _once_after(local: datetime, where: tzinfo, after: datetime) -> Iterator[datetime]:
    # Through cron too, so a time the clocks skip or repeat fires as a daily one would.
    day_before = (local - timedelta(days=1)).replace(hour=23, minute=59).replace(tzinfo=where)
    line = f"{local.minute} {local.hour} {local.day} {local.month} *"
    at = next(iter(_cron(line, day_before))).astimezone(UTC)
    if at > after:
        yield at


def _merged(streams: Iterable[Iterator[datetime]]) -> Iterator[datetime]:
    last: datetime | None = None
    for at in heapq.merge(*streams):
        if at != last:
            yield at
        last = at


def next_fire(schedule: Schedule, after: datetime) -> datetime | None:
    """The first fire time after `after`; None when there is none (a `once` gone by)."""
    return next(fires_after(schedule, after), None)


@dataclass(frozen=True)
class Due:
    """What a scheduler does now about one schedule whose last handled fire time is known."""

    fire_at: datetime | None = None
    """The fire time to act on now (the latest one passed); None: nothing is due."""
    missed: list[datetime] = field(default_factory=list)
    """Fire times that passed unnoticed — no scheduler ran then — oldest first (the first
    MISSED_LISTED): the run of `fire_at` stands for them all."""
    missed_total: int = 0


def due(schedule: Schedule, last: datetime, now: datetime, grace: timedelta = GRACE) -> Due:
    """The fire times in (last, now]: the latest is acted on, once; those before it, and
    the latest itself when found over `grace` after its time, were missed."""
    passed: list[datetime] = []
    total = 0
    latest: datetime | None = None
    for at in fires_after(schedule, last):
        if at > now:
            break
        if latest is not None:
            total += 1
            if len(passed) < MISSED_LISTED:
                passed.append(latest)
        latest = at
        if total >= MISSED_COUNTED:
            # Not worth walking further: jump to the latest fire time at or before now.
            latest = _latest_before(schedule, now) or latest
            break
    if latest is None:
        return Due()
    if now - latest > grace:
        total += 1
        if len(passed) < MISSED_LISTED:
            passed.append(latest)
    return Due(fire_at=latest, missed=passed, missed_total=total)


def _latest_before(schedule: Schedule, now: datetime) -> datetime | None:
    """The latest fire time at or before `now`, looking back a day at most."""
    found = None
    for at in fires_after(schedule, now - timedelta(days=1)):
        if at > now:
            break
        found = at
    return found


def fingerprint(schedule: Schedule) -> str:
    """What says the schedule is the same one: a changed schedule starts afresh (the
    fire times of its old form are not "missed")."""
    return msgspec.json.encode(msgspec.structs.replace(schedule, enabled=True)).decode()


def describe(schedule: Schedule) -> str:
    """The schedule as people read it: "every 15m", "daily at 06:00, 18:30 Europe/Paris"."""
    try:
        what = kind(schedule)
    except BadInput:
        return "?"
    in_zone = "" if schedule.zone == "UTC" else f" {schedule.zone}"
    at = ", ".join(schedule.at) if isinstance(schedule.at, list) else schedule.at
    match what:
        case "every":
            return f"every {schedule.every}"
        case "once":
            return f"once at {schedule.once}{in_zone}"
        case "daily":
            daily = schedule.daily or ""
            return f"daily at {', '.join(daily) if isinstance(daily, list) else daily}{in_zone}"
        case "weekly":
            return f"weekly on {', '.join(schedule.weekly or [])} at {at}{in_zone}"
        case "monthly":
            return f"monthly on day {schedule.monthly} at {at}{in_zone}"
    return f"cron {schedule.cron}{in_zone}"
