"""`idsync schedule list|enable|disable` and `idsync job enable|disable`: when jobs run on
their own. Enabling and disabling change the job as `idsync job apply` does (through the
workflow, under the job's ownership), so the scheduler sees it at its next tick."""

from __future__ import annotations

import argparse
from datetime import datetime

import msgspec

from core.errors import NotFound
from core.schedules import describe, named, zone
from schemas.collections import Collection
from schemas.ids import utcnow
from schemas.jobs import Job

from .client import Session, connect
from .output import print_json, print_table
from .schedules import next_of


async def schedule_list(args: argparse.Namespace) -> int:
    from services.common.schedules import Schedules, state_key

    async with connect(args.settings) as session:
        jobs = [await session.store.job(args.job)] if args.job else await session.store.jobs()
        collections = [] if args.job else await session.store.collections()
        states = {
            state_key(s.job_id, s.schedule, s.kind): s for s in await Schedules(session.js).all()
        }
    now = utcnow()
    rows: list[dict[str, object]] = []
    targets: list[tuple[str, Job | Collection]] = [("job", j) for j in jobs]
    targets += [("collection", c) for c in collections]
    for kind, job in sorted(targets, key=lambda t: (t[0] != "job", t[1].id)):
        for name, schedule in named(job):
            state = states.get(state_key(job.id, name, kind))
            on = job.enabled and schedule.enabled
            upcoming = next_of(schedule, now) if on else None
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
                    "last_fire": state.last if state and state.outcome != "seen" else None,
                    "last_outcome": state.outcome if state and state.outcome != "seen" else "",
                    "last_run": state.run_id if state else "",
                    "note": state.note if state else "",
                }
            )
    if args.json:
        print_json(rows)
        return 0
    if not rows:
        print("no schedules: a job's `schedule = { … }` or [[schedules]] adds them")
        return 0
    table = []
    for row in rows:
        shown = "enabled" if row["enabled"] else "disabled"
        if not row["job_enabled"]:
            shown += " (job disabled)"
        last = row["last_fire"]
        table.append(
            (
                str(row["job_id"]) + (" (collection)" if row["kind"] == "collection" else ""),
                str(row["schedule"]),
                str(row["when"]),
                shown,
                str(row["next_fire_local"] or "-"),
                f"{last:%Y-%m-%d %H:%M} {row['last_outcome']}"
                if isinstance(last, datetime)
                else "-",
            )
        )
    print_table(table, ("JOB", "SCHEDULE", "WHEN", "STATE", "NEXT FIRE", "LAST FIRE (UTC)"))
    return 0


def _local(at: datetime | None, zone_name: str) -> str | None:
    if at is None:
        return None
    return f"{at.astimezone(zone(zone_name)):%Y-%m-%d %H:%M %Z}"


async def schedule_enable(args: argparse.Namespace) -> int:
    return await _set_schedule(args, True)


async def schedule_disable(args: argparse.Namespace) -> int:
    return await _set_schedule(args, False)


async def _set_schedule(args: argparse.Namespace, enabled: bool) -> int:
    async with connect(args.settings) as session:
        job = await session.store.job(args.job)
        names = [name for name, _ in named(job)]
        if args.name not in names:
            raise NotFound(
                f"job {job.id} has no schedule {args.name!r}: it has "
                + (", ".join(names) or "none")
                + " (`idsync schedule list --job JOB`)"
            )
        index = names.index(args.name)

        combined = [
            msgspec.structs.replace(s, enabled=enabled) if i == index else s
            for i, s in enumerate(job.all_schedules)
        ]
        single = job.schedule is not None
        changed = msgspec.structs.replace(
            job,
            schedule=combined[0] if single else None,
            schedules=combined[1:] if single else combined,
        )
        await _store(session, changed)
    print(f"{'enabled' if enabled else 'disabled'} schedule {args.name} of job {job.id}")
    return 0


async def job_enable(args: argparse.Namespace) -> int:
    return await _set_job(args, True)


async def job_disable(args: argparse.Namespace) -> int:
    return await _set_job(args, False)


async def _set_job(args: argparse.Namespace, enabled: bool) -> int:
    async with connect(args.settings) as session:
        job = await session.store.job(args.id)
        await _store(session, msgspec.structs.replace(job, enabled=enabled))
    what = "enabled" if enabled else "disabled: it neither runs on its schedules nor on request"
    print(f"job {args.id} {what}")
    return 0


async def _store(session: Session, job: Job) -> None:
    await session.apply_job(job)
