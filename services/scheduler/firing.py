"""One scheduler's work on every schedule at each tick: what is due (core/schedules.py),
claimed in the schedules bucket so that one scheduler alone acts on a fire time, then a
run asked for — or the fire skipped while a run of the job goes on — and said so. A
collection's schedules are handled alike: a `collection.requested`, skipped while one of
its runs goes on."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Literal

import msgspec

from core.errors import BadInput, Unreachable
from core.schedules import Due, due, fingerprint, named
from schemas.collections import Collection
from schemas.event_ids import collection_requested_id, missed_id, requested_id, skipped_id
from schemas.events import (
    CollectionRequested,
    RunRequested,
    ScheduleMissed,
    ScheduleSkipped,
    StepOutcome,
)
from schemas.ids import scheduled_collection_run_id, scheduled_run_id
from schemas.jobs import Schedule
from services.common.bus import Bus
from services.common.collection_runs import CollectionRuns
from services.common.logging import get_logger
from services.common.schedules import CLAIM_TIMEOUT, Schedules, ScheduleState, state_key

from .busy import recent_runs

log = get_logger("idsync.scheduler")
DISABLED = "disabled"


@dataclass(frozen=True)
class Target:
    """What a schedule starts: a job, or a collection."""

    kind: Literal["job", "collection"]
    id: str
    enabled: bool

    def key(self, name: str) -> str:
        return state_key(self.id, name, self.kind)

    def run_id(self, fire_at: datetime) -> str:
        if self.kind == "job":
            return scheduled_run_id(self.id, fire_at)
        return scheduled_collection_run_id(self.id, fire_at)


class Firing:
    def __init__(self, bus: Bus, me: str) -> None:
        self.bus = bus
        self.me = me
        self.states = Schedules(bus.js)
        self.known: dict[str, ScheduleState] = {}
        """What this scheduler last read or wrote of each schedule's state."""

    async def tick(self, now: datetime) -> None:
        keys: set[str] = set()
        jobs = [(Target("job", j.id, j.enabled), named(j)) for j in await self.bus.store.jobs()]
        collections = [
            (Target("collection", c.id, c.enabled), named(c)) for c in await self._collections()
        ]
        for target, schedules in jobs + collections:
            for name, schedule in schedules:
                keys.add(target.key(name))
                try:
                    await self.handle(target, name, schedule, now)
                except BadInput as error:  # applied before a check knew better
                    log.error("bad schedule", job_id=target.id, schedule=name, error=str(error))
        for key in set(self.known) - keys:
            del self.known[key]

    async def _collections(self) -> list[Collection]:
        """The collections; none while their bucket is missing (a workflow older than this
        scheduler has not made it): the jobs' schedules fire all the same."""
        try:
            return await self.bus.store.collections()
        except Unreachable:
            return []

    async def handle(self, job: Target, name: str, schedule: Schedule, now: datetime) -> None:
        key = job.key(name)
        active = job.enabled and schedule.enabled
        spec = fingerprint(schedule) if active else DISABLED
        state = self.known.get(key)
        if state is None or state.spec != spec:
            state = await self._adopt(job, name, spec, now)
        if not active:
            return
        if state.outcome == "claimed":
            state = await self._take_over(job, name, now)
            if state is None or state.outcome == "claimed":
                return
        found = due(schedule, state.last, now)
        if found.fire_at is not None:
            await self._fire(job, name, schedule, found, now)

    async def _adopt(self, job: Target, name: str, spec: str, now: datetime) -> ScheduleState:
        """The stored state when it is of this very schedule (fires missed while no
        scheduler ran are then due); else a fresh one: its first fire is the next."""
        key, job_id = job.key(name), job.id
        while True:
            stored, revision = await self.states.read(key)
            if stored is not None and stored.spec == spec:
                self.known[key] = stored
                return stored
            fresh = ScheduleState(job_id=job_id, schedule=name, spec=spec, last=now, kind=job.kind)
            if await self.states.write(key, fresh, revision) is not None:
                self.known[key] = fresh
                return fresh

    async def _fire(
        self, job: Target, name: str, schedule: Schedule, found: Due, now: datetime
    ) -> None:
        key = job.key(name)
        stored, revision = await self.states.read(key)
        if stored is None or stored.spec != fingerprint(schedule):
            self.known.pop(key, None)  # changed meanwhile: adopted afresh next tick
            return
        known = self.known.get(key)
        if known is None:  # a tick beside this one let it go: adopted afresh next tick
            return
        if stored.last != known.last:
            # Another scheduler moved on: what is due from where it stands?
            self.known[key] = stored
            if stored.outcome == "claimed":
                return
            found = due(schedule, stored.last, now)
            if found.fire_at is None:
                return
        assert found.fire_at is not None
        claim = ScheduleState(
            job_id=job.id,
            schedule=name,
            spec=stored.spec,
            last=found.fire_at,
            outcome="claimed",
            run_id=job.run_id(found.fire_at),
            note=f"{found.missed_total} fire times missed before it" if found.missed_total else "",
            claimed_at=now,
            claimed_by=self.me,
            kind=job.kind,
        )
        claimed = await self.states.write(key, claim, revision)
        if claimed is None:
            self.known.pop(key, None)  # another scheduler claimed it first
            return
        self.known[key] = claim
        if found.missed_total:
            await self._missed(job.id, name, claim.run_id, found)
        await self._decide(job, claim, claimed)

    async def _take_over(self, job: Target, name: str, now: datetime) -> ScheduleState | None:
        """A fire seen claimed: the state as it stands now. The claim finished meanwhile
        (by the scheduler that made it, perhaps just after this one looked) is the state to
        go on from; one whose scheduler did not finish it (it stopped) is, after
        CLAIM_TIMEOUT, claimed again and decided with the same ids."""
        key = job.key(name)
        stored, revision = await self.states.read(key)
        if stored is None:
            self.known.pop(key, None)
            return None
        self.known[key] = stored
        if stored.outcome != "claimed" or stored.claimed_at is None:
            return stored
        if now - stored.claimed_at < CLAIM_TIMEOUT:
            return stored
        claim = msgspec.structs.replace(stored, claimed_at=now, claimed_by=self.me)
        claimed = await self.states.write(key, claim, revision)
        if claimed is None:
            self.known.pop(key, None)
            return None
        log.warning("scheduled fire taken over", job_id=job.id, schedule=name, run_id=claim.run_id)
        await self._decide(job, claim, claimed)
        return None

    async def _decide(self, job: Target, claim: ScheduleState, revision: int) -> None:
        """Ask for the run, unless one of the job's (or collection's) runs has not ended:
        then say so."""
        run_id = claim.run_id
        asked, going = await self._runs(job, run_id)
        outcome, note = "requested", claim.note
        if asked:
            pass  # asked for already, by the scheduler whose claim this was
        elif going:
            busy_run, busy_state = going
            outcome, note = "skipped", f"run {busy_run} had not ended ({busy_state})"
            await self.bus.publish(
                ScheduleSkipped(
                    run_id=run_id,
                    job_id=job.id,
                    id=skipped_id(run_id),
                    schedule=claim.schedule,
                    fire_at=claim.last,
                    busy_run=busy_run,
                    busy_state=busy_state,
                )
            )
            log.info("scheduled run skipped", job_id=job.id, run_id=run_id, busy=busy_run)
        else:
            await self._request(job, run_id)
            log.info("scheduled run requested", job_id=job.id, run_id=run_id)
        done = msgspec.structs.replace(claim, outcome=outcome, note=note)
        key = job.key(claim.schedule)
        if await self.states.write(key, done, revision) is not None:
            self.known[key] = done
        else:
            self.known.pop(key, None)

    async def _missed(self, job_id: str, name: str, run_id: str, found: Due) -> None:
        await self.bus.publish(
            ScheduleMissed(
                run_id=run_id,
                job_id=job_id,
                id=missed_id(run_id),
                schedule=name,
                missed=found.missed,
                missed_total=found.missed_total,
            )
        )
        log.warning(
            "missed scheduled runs: one run for them all",
            job_id=job_id,
            schedule=name,
            missed=found.missed_total,
            run_id=run_id,
        )

    async def _runs(self, job: Target, run_id: str) -> tuple[bool, tuple[str, str] | None]:
        """Whether `run_id` was asked for already, and a run of the job (or collection)
        that has not ended: its id and state."""
        if job.kind == "job":
            runs = await recent_runs(self.bus.broker.connection, job.id)
            going = [(r.run_id, r.state) for r in runs if r.ended_at is None]
        else:
            found = await CollectionRuns(self.bus.js).of(job.id)
            runs_ids = [r.run_id for r in found]
            going = [(r.run_id, r.state) for r in found if not r.ended]
            return run_id in runs_ids, next((g for g in reversed(going) if g[0] != run_id), None)
        asked = any(r.run_id == run_id for r in runs)
        return asked, next((g for g in reversed(going) if g[0] != run_id), None)

    async def _request(self, job: Target, run_id: str) -> None:
        if job.kind == "job":
            await self.bus.publish(
                RunRequested(
                    run_id=run_id,
                    job_id=job.id,
                    id=requested_id(run_id),
                    requested_by="scheduler",
                    trigger="schedule",
                )
            )
            return
        collection = await self.bus.store.collection(job.id)
        await self.bus.publish(
            CollectionRequested(
                run_id=run_id,
                job_id=job.id,
                id=collection_requested_id(run_id),
                requested_by="scheduler",
                trigger="schedule",
                steps=[StepOutcome(job=s.job, on_failure=s.on_failure) for s in collection.jobs],
            )
        )
