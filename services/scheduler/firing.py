"""One scheduler's work on every schedule at each tick: what is due (core/schedules.py),
claimed in the schedules bucket so that one scheduler alone acts on a fire time, then a
run asked for — or the fire skipped while a run of the job goes on — and said so."""

from __future__ import annotations

from datetime import datetime

import msgspec

from core.errors import BadInput
from core.schedules import Due, due, fingerprint, named
from schemas.event_ids import missed_id, requested_id, skipped_id
from schemas.events import RunRequested, ScheduleMissed, ScheduleSkipped
from schemas.ids import scheduled_run_id
from schemas.jobs import Job, Schedule
from services.common.bus import Bus
from services.common.logging import get_logger
from services.common.schedules import CLAIM_TIMEOUT, Schedules, ScheduleState, state_key

from .busy import recent_runs

log = get_logger("idsync.scheduler")
DISABLED = "disabled"


class Firing:
    def __init__(self, bus: Bus, me: str) -> None:
        self.bus = bus
        self.me = me
        self.states = Schedules(bus.js)
        self.known: dict[str, ScheduleState] = {}
        """What this scheduler last read or wrote of each schedule's state."""

    async def tick(self, now: datetime) -> None:
        keys: set[str] = set()
        for job in await self.bus.store.jobs():
            for name, schedule in named(job):
                key = state_key(job.id, name)
                keys.add(key)
                try:
                    await self.handle(job, name, schedule, now)
                except BadInput as error:  # applied before a check knew better
                    log.error("bad schedule", job_id=job.id, schedule=name, error=str(error))
        for key in set(self.known) - keys:
            del self.known[key]

    async def handle(self, job: Job, name: str, schedule: Schedule, now: datetime) -> None:
        key = state_key(job.id, name)
        active = job.enabled and schedule.enabled
        spec = fingerprint(schedule) if active else DISABLED
        state = self.known.get(key)
        if state is None or state.spec != spec:
            state = await self._adopt(job.id, name, spec, now)
        if not active:
            return
        if state.outcome == "claimed":
            await self._take_over(job, name, state, now)
            return
        found = due(schedule, state.last, now)
        if found.fire_at is not None:
            await self._fire(job, name, schedule, found, now)

    async def _adopt(self, job_id: str, name: str, spec: str, now: datetime) -> ScheduleState:
        """The stored state when it is of this very schedule (fires missed while no
        scheduler ran are then due); else a fresh one: its first fire is the next."""
        key = state_key(job_id, name)
        while True:
            stored, revision = await self.states.read(key)
            if stored is not None and stored.spec == spec:
                self.known[key] = stored
                return stored
            fresh = ScheduleState(job_id=job_id, schedule=name, spec=spec, last=now)
            if await self.states.write(key, fresh, revision) is not None:
                self.known[key] = fresh
                return fresh

    async def _fire(
        self, job: Job, name: str, schedule: Schedule, found: Due, now: datetime
    ) -> None:
        key = state_key(job.id, name)
        stored, revision = await self.states.read(key)
        if stored is None or stored.spec != fingerprint(schedule):
            self.known.pop(key, None)  # changed meanwhile: adopted afresh next tick
            return
        if stored.last != self.known[key].last:
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
            run_id=scheduled_run_id(job.id, found.fire_at),
            note=f"{found.missed_total} fire times missed before it" if found.missed_total else "",
            claimed_at=now,
            claimed_by=self.me,
        )
        claimed = await self.states.write(key, claim, revision)
        if claimed is None:
            self.known.pop(key, None)  # another scheduler claimed it first
            return
        self.known[key] = claim
        if found.missed_total:
            await self._missed(job.id, name, claim.run_id, found)
        await self._decide(job, claim, claimed)

    async def _take_over(self, job: Job, name: str, state: ScheduleState, now: datetime) -> None:
        """A fire claimed by a scheduler that did not finish it (it stopped): after
        CLAIM_TIMEOUT, claimed again and decided with the same ids."""
        key = state_key(job.id, name)
        stored, revision = await self.states.read(key)
        if stored is None:
            self.known.pop(key, None)
            return
        self.known[key] = stored
        if stored.outcome != "claimed" or stored.claimed_at is None:
            return
        if now - stored.claimed_at < CLAIM_TIMEOUT:
            return
        claim = msgspec.structs.replace(stored, claimed_at=now, claimed_by=self.me)
        claimed = await self.states.write(key, claim, revision)
        if claimed is None:
            self.known.pop(key, None)
            return
        log.warning("scheduled fire taken over", job_id=job.id, schedule=name, run_id=claim.run_id)
        await self._decide(job, claim, claimed)

    async def _decide(self, job: Job, claim: ScheduleState, revision: int) -> None:
        """Ask for the run, unless one of the job's runs has not ended: then say so."""
        run_id = claim.run_id
        runs = await recent_runs(self.bus.broker.connection, job.id)
        going = [run for run in runs if run.ended_at is None and run.run_id != run_id]
        outcome, note = "requested", claim.note
        if any(run.run_id == run_id for run in runs):
            pass  # asked for already, by the scheduler whose claim this was
        elif going:
            busy = going[-1]
            outcome, note = "skipped", f"run {busy.run_id} had not ended ({busy.state})"
            await self.bus.publish(
                ScheduleSkipped(
                    run_id=run_id,
                    job_id=job.id,
                    id=skipped_id(run_id),
                    schedule=claim.schedule,
                    fire_at=claim.last,
                    busy_run=busy.run_id,
                    busy_state=busy.state,
                )
            )
            log.info("scheduled run skipped", job_id=job.id, run_id=run_id, busy=busy.run_id)
        else:
            await self.bus.publish(
                RunRequested(
                    run_id=run_id,
                    job_id=job.id,
                    id=requested_id(run_id),
                    requested_by="scheduler",
                    trigger="schedule",
                )
            )
            log.info("scheduled run requested", job_id=job.id, run_id=run_id)
        done = msgspec.structs.replace(claim, outcome=outcome, note=note)
        key = state_key(job.id, claim.schedule)
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
