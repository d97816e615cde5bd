"""Schedules through the scheduler, on a real nats-server: two schedulers fire each fire
time once, a fire while the job's run goes on is skipped and said so, fires missed while
no scheduler ran are said and run once, and a fire claimed by a scheduler that stopped is
taken over. Each scheduler is ticked with a clock the test gives (fire times a few hours
back from now: the journal is read from a run's time, so they must not be in the future);
the workflow and the runner run as services."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Callable
from datetime import UTC, datetime, timedelta

import msgspec
import pytest

from schemas.collections import Collection, CollectionStep
from schemas.events import (
    CollectionRequested,
    Event,
    RunApproved,
    RunFinished,
    RunRequested,
    ScheduleMissed,
    ScheduleSkipped,
)
from schemas.ids import scheduled_collection_run_id, scheduled_run_id
from schemas.jobs import Schedule
from services.cli.client import Session
from services.common.bus import Bus, make_broker
from services.common.collection_runs import CollectionRuns
from services.common.schedules import Schedules, ScheduleState, state_key
from services.common.settings import Settings
from services.scheduler.firing import Firing

from .conftest import JOB_ID, Files, RunServices, apply_files
from .journal import wait_for_event
from .test_cli import idsync

HOUR = timedelta(hours=1)


@pytest.fixture
async def buses(settings: Settings, session: Session) -> AsyncIterator[Callable[[], Bus]]:
    """Each call: a Bus of its own connection, as a scheduler process has."""
    made: list[Bus] = []

    def bus() -> Bus:
        broker = make_broker(settings.nats_url or "")
        made.append(Bus(broker, settings))
        return made[-1]

    yield bus
    for one in made:
        await one.broker.stop()


async def scheduler(bus: Bus, name: str) -> Firing:
    await bus.broker.connect()
    return Firing(bus, name)


def clock() -> datetime:
    """Ten minutes past an hour, five hours ago: every fire time here is in the past."""
    now = datetime.now(UTC).replace(minute=0, second=0, microsecond=0)
    return now - 5 * HOUR + timedelta(minutes=10)


def hour_of(at: datetime) -> datetime:
    return at.replace(minute=0, second=0, microsecond=0)


async def first_seen(
    files: Files, session: Session, buses: Callable[[], Bus], name: str
) -> tuple[Firing, ScheduleState, int]:
    """A job scheduled every hour, seen by a scheduler `name` for the first time (at a
    whole hour): the scheduler, and the schedule's state and revision as it left them."""
    files.write(count=3, schedule="1h")
    await apply_files(session, files)
    firing = await scheduler(buses(), name)
    await firing.tick(hour_of(clock()))
    seen, revision = await Schedules(session.js).read(state_key(JOB_ID, "every"))
    assert seen is not None and revision is not None
    return firing, seen, revision


def claimed(seen: ScheduleState, fire: datetime, by: str) -> ScheduleState:
    """The job's fire at `fire` claimed by another scheduler, `by`, at that very time."""
    return ScheduleState(
        job_id=JOB_ID,
        schedule="every",
        spec=seen.spec,
        last=fire,
        outcome="claimed",
        run_id=scheduled_run_id(JOB_ID, fire),
        claimed_at=fire,
        claimed_by=by,
    )


async def events(session: Session, kind: type[Event]) -> list[Event]:
    subjects = ["idsync.run.>", "idsync.schedule.>", "idsync.collection.>"]
    found = [e for subject in subjects for e in await session.journal(subject)]
    return [e for e in found if isinstance(e, kind)]


async def eventually(check: Callable[[], object], what: str, patience: float = 30.0) -> None:
    async def until() -> None:
        while not await check():  # type: ignore[misc]
            await asyncio.sleep(0.1)

    try:
        await asyncio.wait_for(until(), patience)
    except TimeoutError:
        raise AssertionError(f"never happened: {what}") from None


async def test_two_schedulers_ask_for_each_fire_once(
    files: Files, session: Session, buses: Callable[[], Bus]
) -> None:
    files.write(count=3, schedule="1h")
    await apply_files(session, files)
    one, two = await scheduler(buses(), "one"), await scheduler(buses(), "two")
    t0 = clock()
    await asyncio.gather(one.tick(t0), two.tick(t0))  # first seen: nothing fires at once
    assert await events(session, RunRequested) == []
    for later in (HOUR, 2 * HOUR):
        at = hour_of(t0) + later + timedelta(seconds=1)
        await asyncio.gather(one.tick(at), two.tick(at), one.tick(at), two.tick(at))
    requested = await events(session, RunRequested)
    first = scheduled_run_id(JOB_ID, hour_of(t0) + HOUR)
    assert [e.run_id for e in requested] == [first]
    assert all(isinstance(e, RunRequested) and e.trigger == "schedule" for e in requested)
    # No workflow took the first run up: it had not ended at the second fire, which both
    # schedulers skipped — said once.
    skipped = await events(session, ScheduleSkipped)
    assert [(e.run_id, e.busy_run) for e in skipped if isinstance(e, ScheduleSkipped)] == [
        (scheduled_run_id(JOB_ID, hour_of(t0) + 2 * HOUR), first)
    ]
    assert await events(session, ScheduleMissed) == []


async def test_a_fire_while_the_run_goes_on_is_skipped_and_said_so(
    files: Files, session: Session, services: RunServices, buses: Callable[[], Bus]
) -> None:
    files.write(count=5, schedule="1h")
    await apply_files(session, files)
    firing = await scheduler(buses(), "solo")
    t0 = clock()
    await firing.tick(t0)
    first = scheduled_run_id(JOB_ID, hour_of(t0) + HOUR)
    async with services("workflow"):  # approved, but no runner takes it: it goes on
        await firing.tick(hour_of(t0) + HOUR)
        # The next fire once the workflow has approved the run (it answers in its time).
        await wait_for_event(session, lambda e: isinstance(e, RunApproved) and e.run_id == first)
        await firing.tick(hour_of(t0) + 2 * HOUR)
    skipped = await events(session, ScheduleSkipped)
    assert len(skipped) == 1 and isinstance(skipped[0], ScheduleSkipped)
    assert skipped[0].run_id == scheduled_run_id(JOB_ID, hour_of(t0) + 2 * HOUR)
    assert (skipped[0].busy_run, skipped[0].busy_state) == (first, "approved")
    assert [e.run_id for e in await events(session, RunRequested)] == [first]
    listed = await idsync(session.settings, "schedule", "list", "--json")
    [row] = json.loads(listed.stdout)
    assert (row["schedule"], row["last_outcome"]) == ("every", "skipped")
    assert row["note"] == f"run {first} had not ended (approved)"

    async with services("workflow", "runner"):  # the first run ends; the next fire runs

        async def finished() -> bool:
            return any(e.run_id == first for e in await events(session, RunFinished))

        await eventually(finished, f"run {first} finished")
        await firing.tick(hour_of(t0) + 3 * HOUR)
    third = scheduled_run_id(JOB_ID, hour_of(t0) + 3 * HOUR)
    assert [e.run_id for e in await events(session, RunRequested)] == [first, third]


async def test_fires_missed_while_no_scheduler_ran_are_said_and_run_once(
    files: Files, session: Session, buses: Callable[[], Bus]
) -> None:
    files.write(count=3, schedule="1h")
    await apply_files(session, files)
    t0 = clock()
    await (await scheduler(buses(), "before")).tick(t0)
    # No scheduler for four hours; one starts afresh, twenty minutes after the last fire.
    back = hour_of(t0) + 4 * HOUR + timedelta(minutes=20)
    after = await scheduler(buses(), "after")
    await after.tick(back)
    await after.tick(back + timedelta(seconds=1))
    latest = hour_of(t0) + 4 * HOUR
    [missed] = await events(session, ScheduleMissed)
    assert isinstance(missed, ScheduleMissed)
    assert missed.missed == [hour_of(t0) + n * HOUR for n in (1, 2, 3, 4)]
    assert missed.missed_total == 4 and missed.run_id == scheduled_run_id(JOB_ID, latest)
    assert [e.run_id for e in await events(session, RunRequested)] == [missed.run_id]


async def test_a_fire_claimed_by_a_scheduler_that_stopped_is_taken_over(
    files: Files, session: Session, buses: Callable[[], Bus]
) -> None:
    firing, seen, revision = await first_seen(files, session, buses, "survivor")
    states, key, fire = Schedules(session.js), state_key(JOB_ID, "every"), seen.last + HOUR
    run_id = scheduled_run_id(JOB_ID, fire)
    # Another scheduler claimed the fire, then stopped before asking for the run.
    assert await states.write(key, claimed(seen, fire, "gone"), revision) is not None
    await firing.tick(fire + timedelta(seconds=5))
    assert await events(session, RunRequested) == []  # not yet: it may still finish it
    await firing.tick(fire + timedelta(seconds=31))
    assert [e.run_id for e in await events(session, RunRequested)] == [run_id]
    done, _ = await states.read(key)
    assert done is not None and (done.outcome, done.claimed_by) == ("requested", "survivor")


async def test_a_claim_seen_while_another_scheduler_finishes_it_does_not_hold_up_the_next_fire(
    files: Files, session: Session, buses: Callable[[], Bus]
) -> None:
    firing, seen, revision = await first_seen(files, session, buses, "late")
    states, key, fire = Schedules(session.js), state_key(JOB_ID, "every"), seen.last + HOUR
    # Another scheduler has claimed the fire when this one looks ...
    claim = claimed(seen, fire, "other")
    revision = await states.write(key, claim, revision) or 0
    await firing.tick(fire)
    # ... and finishes it just after: the run asked for, and it ended at once.
    done = ScheduleState(**{**msgspec.structs.asdict(claim), "outcome": "requested"})
    assert await states.write(key, done, revision) is not None
    await firing.tick(fire + HOUR)  # the next fire is this scheduler's, on this very tick
    second = scheduled_run_id(JOB_ID, fire + HOUR)
    assert [e.run_id for e in await events(session, RunRequested)] == [second]


async def test_schedules_listed_enabled_and_disabled_from_the_command_line(
    settings: Settings, files: Files, session: Session, services: RunServices
) -> None:
    files.write(count=3)
    files.job.write_text(
        files.job.read_text().replace(
            "[[objects]]",
            '[[schedules]]\nname = "nightly"\ncron = "30 2 * * *"\nzone = "Europe/Paris"\n\n'
            '[[schedules]]\nname = "monday"\nweekly = ["mon"]\nat = "07:00"\n\n[[objects]]',
        )
    )
    await apply_files(session, files)
    listed = await idsync(settings, "schedule", "list")
    assert listed.returncode == 0, listed.stderr
    header, *lines = listed.stdout.splitlines()
    assert header.split()[:4] == ["JOB", "SCHEDULE", "WHEN", "STATE"]
    nightly = next(line for line in lines if " nightly " in line)
    assert "cron 30 2 * * * Europe/Paris" in nightly and "enabled" in nightly
    assert "02:30 CE" in nightly  # the next fire, in its own zone (CET or CEST)

    off = await idsync(settings, "schedule", "disable", JOB_ID, "nightly")
    assert off.returncode == 0, off.stderr
    rows = json.loads((await idsync(settings, "schedule", "list", "--json")).stdout)
    state = {row["schedule"]: (row["enabled"], row["next_fire"]) for row in rows}
    assert state["nightly"] == (False, None) and state["monday"][0] is True
    job = json.loads((await idsync(settings, "job", "list", "--json")).stdout)[0]
    assert job["next_run"] == state["monday"][1]

    unknown = await idsync(settings, "schedule", "enable", JOB_ID, "weekly")
    assert unknown.returncode == 2 and "has no schedule 'weekly'" in unknown.stderr
    assert (await idsync(settings, "job", "disable", JOB_ID)).returncode == 0
    listed = await idsync(settings, "job", "list")
    assert "disabled" in listed.stdout
    assert "monday" not in listed.stdout  # the schedules in words, not their names
    async with services("workflow"):
        refused = await idsync(settings, "job", "run", JOB_ID)
    assert refused.returncode == 2 and "disabled" in refused.stderr
    assert (await idsync(settings, "job", "enable", JOB_ID)).returncode == 0
    rows = json.loads((await idsync(settings, "schedule", "list", "--json")).stdout)
    assert all(row["job_enabled"] for row in rows)


async def test_a_collections_schedule_starts_it_once_and_skips_while_it_runs(
    files: Files, session: Session, buses: Callable[[], Bus], services: RunServices
) -> None:
    files.write(count=3)
    await apply_files(session, files)
    await session.store.put_collection(
        Collection(
            id="nightly",
            jobs=[CollectionStep(job=JOB_ID)],
            schedule=Schedule(every="1h"),
        )
    )
    one, two = await scheduler(buses(), "one"), await scheduler(buses(), "two")
    t0 = clock()
    await asyncio.gather(one.tick(t0), two.tick(t0))
    async with services("workflow"):  # the collection starts; its job waits for a runner
        at = hour_of(t0) + HOUR
        await asyncio.gather(one.tick(at), two.tick(at))
        first = scheduled_collection_run_id("nightly", at)

        async def recorded() -> bool:
            return await CollectionRuns(session.js).get(first) is not None

        await eventually(recorded, "the collection run recorded")
        await one.tick(hour_of(t0) + 2 * HOUR)
    asked = await events(session, CollectionRequested)
    assert [(e.run_id, e.requested_by) for e in asked if isinstance(e, CollectionRequested)] == [
        (first, "scheduler")
    ]
    [skipped] = await events(session, ScheduleSkipped)
    assert isinstance(skipped, ScheduleSkipped)
    assert (skipped.job_id, skipped.busy_run, skipped.busy_state) == ("nightly", first, "running")
    listed = json.loads((await idsync(session.settings, "schedule", "list", "--json")).stdout)
    assert [(r["job_id"], r["kind"], r["last_outcome"]) for r in listed] == [
        ("nightly", "collection", "skipped")
    ]
