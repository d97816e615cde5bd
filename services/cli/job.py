"""`idsync job apply|list|show|run|preview|delete`: what moves where, and running it.

The checks, the planner and the report writers are imported by the commands that use
them: `job list`, `show`, `run` and `delete` start without them."""

from __future__ import annotations

import argparse
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING

import msgspec

from core.errors import BadInput
from core.runs import fold
from core.upcoming import next_run, schedule_text, spent
from schemas.ids import utcnow
from schemas.jobs import Job

from .client import Session, connect
from .ends import print_asked
from .output import print_json, print_table
from .watch import wait_for_run

if TYPE_CHECKING:
    from schemas.connections import Connection


async def job_apply(args: argparse.Namespace) -> int:
    from services.common.definitions import load_job

    job = load_job(Path(args.file))
    async with connect(args.settings) as session:
        existed = await apply_checked(session, job, args.file)
    if args.json:
        print_json(job)
    else:
        print(f"{'updated' if existed else 'applied'} job {job.id} ({job.display_title})")
        for note in spent(job, utcnow()):
            print(f"note: {note}")
    return 0


async def apply_checked(session: Session, job: Job, origin: str) -> bool:
    """Check the job as `job apply` does (against the stored connections; `origin` names
    it in messages), then store it; True if it existed."""
    check_for_apply(job, {c.id: c for c in await session.store.connections()}, origin)
    return await session.apply_job(job)


def check_for_apply(job: Job, connections: Mapping[str, Connection], origin: str) -> None:
    """What `job apply` checks before it sends a job, against these connections."""
    from core.checks.approval import approval_problems
    from core.checks.job import check_job
    from core.checks.ownership import unowned_connection_problems
    from services.common.hooks import hooks_problem
    from services.providers import FACTS

    if problems := approval_problems(job):
        raise BadInput("\n".join(f"{origin}: {problem}" for problem in problems))
    hooks = hooks_problem(job)
    check_job(job, dict(connections), FACTS, origin=origin, hooks_problem=hooks)
    if problems := unowned_connection_problems(job, dict(connections)):
        raise BadInput("\n".join(f"{origin}: {problem}" for problem in problems))


async def _refused(args: argparse.Namespace) -> int:
    """The jobs their owners' roles' policies refuse now (the workflow says which)."""
    from .role import refused_jobs

    found = await refused_jobs(args)
    if args.json:
        print_json([{"id": job, "refused": reason.splitlines()} for job, reason in found])
        return 0
    if not found:
        print("no job is refused by a role's policy")
        return 0
    for job, reason in found:
        print(f"{job}: refused")
        for line in reason.splitlines():
            print(f"  {line}")
    return 0


async def job_list(args: argparse.Namespace) -> int:
    from core.job_list import Filters, listing

    if args.refused:
        return await _refused(args)
    async with connect(args.settings) as session:
        jobs = await session.store.jobs()
        runs = fold(await session.journal())
    enabled = {"enabled": True, "disabled": False}.get(args.state or "")
    filters = Filters(
        name=args.name,
        source=args.source,
        destination=args.destination,
        owner=args.owner,
        enabled=enabled,
        outcome=args.outcome,
    )
    listed = listing(jobs, runs, filters, args.sort)
    now = utcnow()
    if args.json:
        print_json(
            [
                {
                    **msgspec.to_builtins(item.job),
                    "next_run": next_run(item.job, now),
                    "last_outcome": item.outcome,
                    "last_run": item.last.run_id if item.last else None,
                    "times_run": item.times_run,
                }
                for item in listed
            ]
        )
        return 0
    if not listed:
        print("no jobs match" if jobs else "no jobs yet: `idsync job apply JOB.toml` adds one")
        return 0
    rows = []
    for item in listed:
        job, run = item.job, item.last
        last_run = (
            f"{run.state} {run.requested_at:%Y-%m-%d %H:%M}"
            if run and run.requested_at
            else "never"
        )
        upcoming = next_run(job, now)
        rows.append(
            (
                job.id,
                job.display_title,
                f"{job.source.connection} → {job.destination.connection}",
                ("enabled" if job.enabled else "disabled") + (", pinned" if job.pinned else ""),
                schedule_text(job),
                f"{upcoming:%Y-%m-%d %H:%M:%S}" if upcoming else "-",
                last_run,
                str(item.times_run),
            )
        )
    header = ("ID", "TITLE", "FROM → TO", "STATE", "SCHEDULE", "NEXT RUN (UTC)", "LAST RUN", "RUNS")
    print_table(rows, header)
    return 0


async def job_show(args: argparse.Namespace) -> int:
    async with connect(args.settings) as session:
        job = await session.store.job(args.id)
    if args.json:
        print_json(job)
    else:
        print(msgspec.json.format(msgspec.json.encode(job), indent=2).decode())
    return 0


async def job_delete(args: argparse.Namespace) -> int:
    async with connect(args.settings) as session:
        note = await session.delete_job(args.id, forget_history=args.forget_history)
    if args.forget_history:
        print(f"job {args.id} {note}")
    else:
        print(f"deleted job {args.id} (its runs stay in the journal)")
    return 0


async def job_run(args: argparse.Namespace) -> int:
    async with connect(args.settings, patient=args.wait) as session:
        if not args.wait:
            reply = await session.ask_run(args.id, args.key, args.changed_only)
            return print_asked(args.id, reply, as_json=args.json)
        return await wait_for_run(
            session, args.id, args.key, as_json=args.json, changed_only=args.changed_only
        )


async def job_preview(args: argparse.Namespace) -> int:
    """Plan without writing: read both sides here and show what a run would do."""
    from core.engine.report import report
    from services.common import pushed
    from services.common.report_writer import write_report
    from services.common.watermarks import Memory
    from services.runner.planning import Asked, plan_run

    from .export import export_format
    from .preview import preview_text
    from .samples import preview_samples

    if args.sample is not None:
        return await preview_samples(args)
    if args.format and not args.export:
        raise BadInput(f"--format {args.format} needs --export FILE, the file to write")
    export = Path(args.export) if args.export else None
    fmt = export_format(export, args.format) if export else ""  # checked before any reading
    async with connect(args.settings) as session:
        if session.authenticated:
            await session.ask("preview", b"{}")  # the workflow says whether roles allow it
        job = await session.store.job(args.id)
        # The very inputs a run has (the job's watermark and absences): the same plan.
        asked = Asked(keys=args.key, changed_only=args.changed_only)
        pushed.bind(lambda: session.nc)  # a scim-inbound source reads the bucket
        planned = await plan_run(session.store, Memory(session.js), job, asked)
        shown = (
            ""
            if args.json
            else await preview_text(session.store, job, planned, args.limit, args.key)
        )
    if export is not None:
        the_report = report(
            job.id,
            planned.plan.hash,
            planned.plan.counts,
            planned.plan.changes,
            source_records=planned.source_records,
            destination_records=planned.destination_records,
            warnings=planned.plan.warnings,
        )
        write_report(the_report, export, fmt)
        if not args.json:
            print(f"exported {len(the_report.rows)} rows ({fmt}) to {export}")
    if args.json:
        print_json(
            {
                "plan_hash": planned.plan.hash,
                "counts": planned.plan.counts,
                "changes": list(planned.plan.changes),  # a large plan: read from disk
                "warnings": planned.plan.warnings,
                "record_errors": planned.record_errors,
                "over_limits": None if job.staging else planned.over_limits(job, args.key),
            }
        )
        return 0
    print(shown, end="")
    return 0
