"""`idsync run list|show|approvals|approve|deny|cancel`: runs as the journal tells them, what
waits for whom, and the answers."""

from __future__ import annotations

import argparse

from core.errors import NotFound
from core.run_texts import counts_line, error_line, keys_line, warning_lines
from core.runs import RunStory, approvers, fold
from schemas.ids import utcnow
from schemas.subjects import RUN_EVENTS, job_events

from .client import connect
from .output import print_json, print_table, stats_line


def no_runs(job: str | None) -> str:
    """What `run list` says when the journal holds no run (of `job`)."""
    if job:
        return (
            f"no runs of job {job} in the journal: `idsync job run {job}` starts one "
            "(a job deleted with --forget-history keeps none)"
        )
    return "no runs yet: `idsync job run JOB` starts one"


async def run_list(args: argparse.Namespace) -> int:
    subject = job_events(args.job) if args.job else RUN_EVENTS
    async with connect(args.settings) as session:
        runs = fold(await session.journal(subject))[-args.limit :]
    if args.json:
        print_json([_brief(run) for run in runs])
        return 0
    if not runs:
        print(no_runs(args.job))
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
    if approved := approvers(run):
        print(f"  approved by {', '.join(approved)}")
    if run.waited:
        print(f"  waited for approval: {run.waited}")
    if run.planned is not None:
        print(f"  plan {run.plan_hash[:12]}: {counts_line(run.planned)}")
    if run.keys is not None:
        print(f"  {keys_line(run.keys)}")
    if run.incremental:
        since = f"since {run.since}" if run.since else "no watermark yet: every record"
        print(f"  incremental: changed records only ({since}); absent objects left alone")
    if run.full_because:
        print(f"  full run: {run.full_because}; absent objects acted on as in any full run")
    for warning in warning_lines(run.warnings, run.warnings_total):
        print(f"  warning: {warning}")
    if run.ended_at is not None:
        print(f"  {stats_line(run.stats)}")
    if run.reason:
        print(f"  reason: {run.reason}")
    shown = run.errors[: max(args.errors, 0)]
    if run.errors:
        cut = f", the first {len(shown)} below (--errors N)" if len(shown) < len(run.errors) else ""
        print(f"  record errors: {len(run.errors)}{cut}")
    for error in shown:
        print(f"  {error_line(error)}")
    for attempt in run.failed_attempts[-10:]:
        print(f"  {attempt}")
    for failure in run.mail_failures:
        print(f"  mail not sent: {failure}")
    print(f"  events: {' → '.join(run.events)}")
    return 0


async def run_decide(args: argparse.Namespace) -> int:
    """`idsync run approve|deny RUN`: release or end a run that waits for approval."""
    async with connect(args.settings) as session:
        plan = getattr(args, "plan", None) or ""  # (deny takes none)
        done = await session.decide(args.verb, args.run_id, args.reason or "", plan)
    print(f"run {args.run_id} {done or ('approved' if args.verb == 'approve' else 'denied')}")
    return 0


async def run_cancel(args: argparse.Namespace) -> int:
    """`idsync run cancel RUN`: no new batch of the run starts once this returns."""
    async with connect(args.settings) as session:
        await session.decide("cancel", args.run_id, args.reason or "")
    print(f"run {args.run_id} cancelled: no new batch starts; it ends with what it applied")
    return 0


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


async def run_approvals(args: argparse.Namespace) -> int:
    """The runs waiting for an approval the current principal may give (--all: every one)."""
    from services.common.approvals import WAITING, may_answer, waiting
    from services.common.runs import Runs

    async with connect(args.settings) as session:
        me = session.settings.principal
        runs, found = Runs(session.js), []
        for entry in await waiting(session.js):
            state = await runs.get(entry.run_id)
            if state is None or state.state != WAITING:
                continue  # answered meanwhile; the workflow tidies the list
            if args.all or may_answer(entry, me):
                found.append(entry)
    if args.json:
        print_json(found)
        return 0
    if not found:
        print("nothing waits for your approval" + ("" if args.all else " (--all: for anyone)"))
        return 0
    now = utcnow()
    for entry in found:
        left = max((entry.expires_at - now).total_seconds() / 3600, 0)
        print(f"run {entry.run_id} of job {entry.job_id} ({entry.trigger})")
        print(f"  asked for by {entry.requested_by or '-'}")
        print(f"  waits: {entry.reason}")
        if entry.keys is not None:
            print(f"  only the objects {', '.join(entry.keys)}")
        if entry.counts is not None and entry.plan_hash:
            c = entry.counts
            print(
                f"  plan {entry.plan_hash[:12]}: {c.create} create, {c.update} update, "
                f"{c.delete} delete, {c.disable} disable, {c.move} move, {c.enable} enable"
            )
        who = ", ".join(entry.approvers) or "anyone"
        print(f"  approvers: {who}; expires in {left:.1f} h ({entry.expires_at:%Y-%m-%d %H:%M})")
        run = entry.run_id
        plan = f" --plan {entry.plan_hash[:12]}" if entry.plan_hash else ""
        print(f"  `idsync run approve {run}{plan}` or `idsync run deny {run} --reason …`")
    return 0
