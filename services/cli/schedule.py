"""`idsync schedule list|enable|disable` and `idsync job enable|disable`: when jobs run on
their own. Enabling and disabling change the job as `idsync job apply` does (through the
workflow, under the job's ownership), so the scheduler sees it at its next tick."""

from __future__ import annotations

import argparse
from datetime import datetime

import msgspec

from schemas.ids import utcnow
from schemas.jobs import Job
from services.common.schedule_list import with_schedule

from .client import Session, connect
from .output import print_json, print_table


async def schedule_list(args: argparse.Namespace) -> int:
    from services.common.schedule_list import schedule_rows

    async with connect(args.settings) as session:
        jobs = [await session.store.job(args.job)] if args.job else await session.store.jobs()
        collections = [] if args.job else await session.store.collections()
        rows = await schedule_rows(session.js, jobs, collections, utcnow())
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


async def schedule_enable(args: argparse.Namespace) -> int:
    return await _set_schedule(args, True)


async def schedule_disable(args: argparse.Namespace) -> int:
    return await _set_schedule(args, False)


async def _set_schedule(args: argparse.Namespace, enabled: bool) -> int:
    async with connect(args.settings) as session:
        job = await session.store.job(args.job)
        changed = with_schedule(job, args.name, enabled)
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
