"""`idsync collection apply|list|show|run|preview|cancel|delete`: jobs run one after the
other, as one (the workflow runs them: services/workflow/collections.py)."""

from __future__ import annotations

import argparse
import asyncio
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import NamedTuple

import msgspec

from core.collections import CollectionRun, step_lines
from core.run_texts import COUNT_NAMES
from core.upcoming import next_run, schedule_text
from schemas.collections import Collection
from schemas.ids import utcnow
from schemas.plan import PlanCounts

from .client import Session, connect
from .output import print_json, print_table

EXIT_FAILED = 4


async def collection_apply(args: argparse.Namespace) -> int:
    from core.checks.collections import check_collection
    from services.common.definitions import load_collection

    collection = load_collection(Path(args.file))
    async with connect(args.settings) as session:
        jobs = {job.id for job in await session.store.jobs()}
        check_collection(collection, jobs, origin=args.file)
        existed = await session.apply_collection(collection)
    verb = "updated" if existed else "applied"
    print(f"{verb} collection {collection.id} ({collection.display_title}): {_jobs(collection)}")
    return 0


def _jobs(collection: Collection) -> str:
    return " → ".join(
        f"{s.job}" + (" (continue on failure)" if s.on_failure == "continue" else "")
        for s in collection.jobs
    )


async def collection_list(args: argparse.Namespace) -> int:
    from services.common.collection_runs import CollectionRuns

    async with connect(args.settings) as session:
        collections = await session.store.collections()
        runs = {c.id: await CollectionRuns(session.js).of(c.id) for c in collections}
    now = utcnow()
    if args.json:
        print_json(
            [
                {
                    **msgspec.to_builtins(c),
                    "next_run": next_run(c, now),
                    "last_run": runs[c.id][-1] if runs[c.id] else None,
                }
                for c in collections
            ]
        )
        return 0
    if not collections:
        print("no collections yet: `idsync collection apply FILE.toml` adds one")
        return 0
    rows = []
    for c in sorted(collections, key=lambda c: (not c.pinned, c.id)):  # pinned first
        last = runs[c.id][-1] if runs[c.id] else None
        upcoming = next_run(c, now)
        rows.append(
            (
                c.id,
                c.display_title,
                _jobs(c),
                ("enabled" if c.enabled else "disabled") + (", pinned" if c.pinned else ""),
                schedule_text(c),
                f"{upcoming:%Y-%m-%d %H:%M}" if upcoming else "-",
                f"{last.state} {last.run_id}" if last else "never",
            )
        )
    header = ("ID", "TITLE", "JOBS", "STATE", "SCHEDULE", "NEXT RUN (UTC)", "LAST RUN")
    print_table(rows, header)
    return 0


async def collection_show(args: argparse.Namespace) -> int:
    """The collection and its recent runs, each with every job's run."""
    from services.common.collection_runs import CollectionRuns

    async with connect(args.settings) as session:
        collection = await session.store.collection(args.id)
        runs = (await CollectionRuns(session.js).of(collection.id))[-args.runs :]
    if args.json:
        print_json({"collection": collection, "runs": runs})
        return 0
    print(f"collection {collection.id}: {collection.display_title}")
    print(f"  jobs: {_jobs(collection)}")
    print(f"  {'enabled' if collection.enabled else 'disabled'}; {schedule_text(collection)}")
    if not runs:
        print("  no runs yet")
    for run in reversed(runs):
        print(_run_text(run))
    return 0


def _run_text(run: CollectionRun) -> str:
    when = f"{run.requested_at:%Y-%m-%d %H:%M:%S}" if run.requested_at else ""
    lines = [f"run {run.run_id} ({run.trigger}, {run.requested_by}) {when}: {run.state}"]
    lines += [f"  {line}" for line in step_lines(run.steps)]
    return "\n".join(lines)


async def collection_run(args: argparse.Namespace) -> int:
    async with connect(args.settings, patient=args.wait) as session:
        run_id = await session.run_collection(args.id)
        if not args.wait:
            print(run_id)
            return 0
        run = await _until_ended(session, run_id)
    if args.json:
        print_json(run)
    else:
        print(_run_text(run))
    return 0 if run.state == "finished" else EXIT_FAILED


async def _until_ended(session: Session, run_id: str) -> CollectionRun:
    from services.common.collection_runs import CollectionRuns

    runs = CollectionRuns(session.js)
    told = ""
    while True:
        run = await runs.get(run_id)
        if run is not None:
            now = "; ".join(f"{s.job} {s.outcome}" for s in run.steps)
            if now != told:
                print(f"  {now}", file=sys.stderr)
                told = now
            if run.ended:
                return run
        await asyncio.sleep(0.3)


async def collection_cancel(args: argparse.Namespace) -> int:
    async with connect(args.settings) as session:
        await session.cancel_collection(args.run)
    print(f"collection run {args.run} cancelled: no job of it starts any more")
    return 0


async def collection_pin(args: argparse.Namespace) -> int:
    return await _pin(args, True)


async def collection_unpin(args: argparse.Namespace) -> int:
    return await _pin(args, False)


async def _pin(args: argparse.Namespace, pinned: bool) -> int:
    async with connect(args.settings) as session:
        collection = await session.store.collection(args.id)
        await session.apply_collection(msgspec.structs.replace(collection, pinned=pinned))
    print(f"collection {args.id} " + ("pinned: listed first" if pinned else "no longer pinned"))
    return 0


async def collection_delete(args: argparse.Namespace) -> int:
    async with connect(args.settings) as session:
        await session.delete_collection(args.id)
    print(f"deleted collection {args.id} (its jobs and their runs stay)")
    return 0


async def collection_preview(args: argparse.Namespace) -> int:
    """Each job's plan in order, as `job preview` shows it (each planned against the data
    as it is now: a job does not see what the ones before it would write)."""
    from services.common.watermarks import Memory
    from services.runner.planning import Asked, plan_run

    async with connect(args.settings) as session:
        collection = await session.store.collection(args.id)
        found = []
        for number, step in enumerate(collection.jobs, 1):
            job = await session.store.job(step.job)
            planned = await plan_run(session.store, Memory(session.js), job, Asked())
            failed = sum(not error.skipped for error in planned.record_errors)
            found.append(
                PreviewStep(number, step.job, planned.plan.counts, failed, planned.plan.hash)
            )
    if args.json:
        print_json(
            [
                {
                    "step": s.step,
                    "job": s.job,
                    "counts": s.counts,
                    "failed": s.failed,
                    "plan_hash": s.plan_hash,
                }
                for s in found
            ]
        )
        return 0
    print_table(*preview_table(found))
    return 0


class PreviewStep(NamedTuple):
    """One job's plan in a collection's preview; `failed`: its records that failed."""

    step: int
    job: str
    counts: PlanCounts
    failed: int
    plan_hash: str


def preview_table(steps: Sequence[PreviewStep]) -> tuple[list[tuple[str, ...]], tuple[str, ...]]:
    """The rows and header of a collection's preview: every count of each plan (moves,
    disables and enables too, as `job preview` says them) and the records that failed."""
    header = ("STEP", "JOB", *(name.upper() for name in COUNT_NAMES), "FAILED", "PLAN")
    rows = [
        (
            str(s.step),
            s.job,
            *(str(getattr(s.counts, name)) for name in COUNT_NAMES),
            str(s.failed),
            s.plan_hash[:12],
        )
        for s in steps
    ]
    return rows, header
