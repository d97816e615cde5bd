"""`idsync run list|show` and `idsync tail`: reading and following the journal."""

from __future__ import annotations

import argparse
import asyncio
import sys

from core.runs import RunStory, fold
from schemas.subjects import JOURNAL_SUBJECTS, RUN_EVENTS, job_events
from services.common.errors import NotFound

from .client import connect
from .output import event_line, print_json, print_table, stats_line


async def run_list(args: argparse.Namespace) -> int:
    subject = job_events(args.job) if args.job else RUN_EVENTS
    async with connect(args.settings) as session:
        runs = fold(await session.journal(subject))[-args.limit :]
    if args.json:
        print_json([_brief(run) for run in runs])
        return 0
    if not runs:
        print("no runs yet: `idsync job run JOB` starts one")
        return 0
    rows = [
        (
            run.run_id,
            run.job_id,
            run.state,
            run.requested_by or "-",
            f"{run.requested_at:%Y-%m-%d %H:%M:%S}" if run.requested_at else "-",
            f"{run.stats.written} written, {run.stats.failed} failed",
        )
        for run in runs
    ]
    print_table(rows, ("RUN", "JOB", "STATE", "BY", "REQUESTED", "CHANGES"))
    return 0


async def run_show(args: argparse.Namespace) -> int:
    async with connect(args.settings) as session:
        runs = [run for run in fold(await session.journal()) if run.run_id == args.run_id]
    if not runs:
        raise NotFound(f"no run {args.run_id!r} in the journal: `idsync run list` shows the runs")
    run = runs[0]
    if args.json:
        print_json(run)
        return 0
    print(f"run {run.run_id} of job {run.job_id}: {run.state}")
    print(
        f"  requested by {run.requested_by or '-'} ({run.trigger or '-'}) "
        f"at {run.requested_at:%Y-%m-%d %H:%M:%S}"
        if run.requested_at
        else ""
    )
    if run.approved_by:
        print(f"  approved by {run.approved_by}")
    if run.planned is not None:
        c = run.planned
        print(
            f"  plan {run.plan_hash[:12]}: {c.create} create, {c.update} update, "
            f"{c.delete} delete, {c.unchanged} unchanged, {c.skipped} skipped"
        )
    if run.incremental:
        since = f"since {run.since}" if run.since else "no watermark yet: every record"
        print(f"  incremental: changed records only ({since}); absent objects left alone")
    if run.ended_at is not None:
        print(f"  {stats_line(run.stats)}")
    if run.reason:
        print(f"  reason: {run.reason}")
    shown = run.errors[: max(args.errors, 0)]
    if run.errors:
        cut = f", the first {len(shown)} below (--errors N)" if len(shown) < len(run.errors) else ""
        print(f"  record errors: {len(run.errors)}{cut}")
    for error in shown:
        print(f"  error: {error.action} {error.key}: {error.message}")
    for attempt in run.failed_attempts[-10:]:
        print(f"  {attempt}")
    for failure in run.mail_failures:
        print(f"  mail not sent: {failure}")
    print(f"  events: {' → '.join(run.events)}")
    return 0


async def run_decide(args: argparse.Namespace) -> int:
    """`idsync run approve|deny RUN`: release or end a run that waits for approval."""
    async with connect(args.settings) as session:
        await session.decide(args.verb, args.run_id, args.reason or "")
    done = "approved: it runs (a plan over the limits is applied only as approved)"
    done = done if args.verb == "approve" else "denied"
    print(f"run {args.run_id} {done}")
    return 0


async def run_cancel(args: argparse.Namespace) -> int:
    """`idsync run cancel RUN`: no new batch of the run starts once this returns."""
    async with connect(args.settings) as session:
        await session.decide("cancel", args.run_id, args.reason or "")
    print(f"run {args.run_id} cancelled: no new batch starts; it ends with what it applied")
    return 0


async def tail(args: argparse.Namespace) -> int:
    # The journal's families, not idsync.>: that would take in other people's commands.
    subjects = [job_events(args.job)] if args.job else JOURNAL_SUBJECTS
    async with connect(args.settings) as session, session.follow(*subjects) as queue:
        if not args.json:
            print(f"following {', '.join(subjects)} (Ctrl-C to stop)", file=sys.stderr)
        try:
            while True:
                event = await queue.get()
                if args.json:
                    sys.stdout.write(session_json(event) + "\n")
                else:
                    print(event_line(event))
                sys.stdout.flush()
        except asyncio.CancelledError:
            return 0


def session_json(event: object) -> str:
    import msgspec

    return msgspec.json.encode(event).decode()


def _brief(run: RunStory) -> dict[str, object]:
    return {
        "run_id": run.run_id,
        "job_id": run.job_id,
        "state": run.state,
        "requested_by": run.requested_by,
        "trigger": run.trigger,
        "requested_at": run.requested_at,
        "ended_at": run.ended_at,
        "stats": run.stats,
        "reason": run.reason,
    }
