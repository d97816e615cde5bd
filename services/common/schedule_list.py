"""Every schedule of the jobs and collections, with its next and last fire — what
`idsync schedule list` prints and the portal shows (the next fire times are the
scheduler's own, core/schedules.py; the last ones from the `idsync_schedules` bucket)."""

from __future__ import annotations

from datetime import datetime

from nats.js import JetStreamContext

from core.errors import NotFound
from core.schedules import describe, named, zone
from core.upcoming import next_of
from schemas.collections import Collection
from schemas.jobs import Job

from .schedules import Schedules, state_key


async def schedule_rows(
    js: JetStreamContext, jobs: list[Job], collections: list[Collection], now: datetime
) -> list[dict[str, object]]:
    """One row per schedule, the jobs' first, then the collections', each by id."""
    states = {state_key(s.job_id, s.schedule, s.kind): s for s in await Schedules(js).all()}
    rows: list[dict[str, object]] = []
    targets: list[tuple[str, Job | Collection]] = [("job", j) for j in jobs]
    targets += [("collection", c) for c in collections]
    for kind, job in sorted(targets, key=lambda t: (t[0] != "job", t[1].id)):
        for name, schedule in named(job):
            state = states.get(state_key(job.id, name, kind))
            on = job.enabled and schedule.enabled
            upcoming = next_of(schedule, now) if on else None
            fired = state is not None and state.outcome != "seen"
            rows.append(
                {
                    "job_id": job.id,
                    "kind": kind,
                    "schedule": name,
                    "when": describe(schedule),
                    "zone": schedule.zone,
                    "enabled": schedule.enabled,
                    "job_enabled": job.enabled,
                    "next_fire": upcoming,
                    "next_fire_local": _local(upcoming, schedule.zone),
                    "last_fire": state.last if state and fired else None,
                    "last_outcome": state.outcome if state and fired else "",
                    "last_run": state.run_id if state else "",
                    "note": state.note if state else "",
                }
            )
    return rows


def _local(at: datetime | None, zone_name: str) -> str | None:
    if at is None:
        return None
    return f"{at.astimezone(zone(zone_name)):%Y-%m-%d %H:%M %Z}"


def with_schedule(job: Job, name: str, enabled: bool) -> Job:
    """The job with its schedule `name` enabled or disabled; NotFound naming the
    schedules it has."""
    import msgspec

    names = [found for found, _ in named(job)]
    if name not in names:
        raise NotFound(
            f"job {job.id} has no schedule {name!r}: it has "
            + (", ".join(names) or "none")
            + " (`idsync schedule list --job JOB`)"
        )
    index = names.index(name)
    combined = [
        msgspec.structs.replace(s, enabled=enabled) if i == index else s
        for i, s in enumerate(job.all_schedules)
    ]
    single = job.schedule is not None
    return msgspec.structs.replace(
        job,
        schedule=combined[0] if single else None,
        schedules=combined[1:] if single else combined,
    )
