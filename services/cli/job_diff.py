"""`idsync job diff JOB FILE`: what applying FILE would change, before it is applied.

The job as it stands and as FILE defines it (checked as `idsync job apply` checks it)
are compared setting by setting and field by field (core/job_diff.py), then both are
planned on today's data the way `idsync job preview` plans (the one planner,
services/runner/planning `plan_run`, with the same clock for both): the counts of both
plans, and the rows of changes only one of them has. Nothing is written anywhere.
"""

from __future__ import annotations

import argparse
from datetime import UTC, datetime
from pathlib import Path

import msgspec

from core.engine.report import Row
from core.errors import BadInput
from core.job_diff import DefinitionChange, definition_changes, plan_difference
from schemas.jobs import Job
from schemas.plan import PlanCounts

from .client import connect
from .output import print_json, print_table

COUNTS = ("create", "update", "delete", "disable", "move", "enable", "unchanged", "skipped")


class Side(msgspec.Struct, kw_only=True):
    """One of the two plans, in short."""

    plan_hash: str
    counts: PlanCounts
    record_errors: int
    source_records: int
    destination_records: int
    over_limits: str | None = None
    """Why a run of this plan would wait for approval, writing nothing until then (the
    job's safety limits, as `idsync job preview` says); None: it would write at once."""


class JobDiff(msgspec.Struct, kw_only=True):
    job_id: str
    file: str
    definition: list[DefinitionChange]
    now: Side
    """The plan of the job as it stands."""
    with_file: Side
    """The plan of the job as FILE defines it."""
    only_now: list[Row]
    """Rows (a field of a change) only the plan of the job as it stands has."""
    only_with_file: list[Row]


async def job_diff(args: argparse.Namespace) -> int:
    from core.checks.approval import approval_problems
    from core.checks.job import check_job
    from core.checks.ownership import unowned_connection_problems
    from services.common.definitions import load_job
    from services.common.hooks import hooks_problem
    from services.common.watermarks import Memory
    from services.providers import FACTS
    from services.runner.planning import Asked, PlannedRun, plan_run

    path = Path(args.file)
    changed = load_job(path)
    if changed.id != args.id:
        raise BadInput(f"{args.file} defines job {changed.id!r}, not {args.id!r}")
    if problems := approval_problems(changed):
        raise BadInput("\n".join(f"{args.file}: {problem}" for problem in problems))
    async with connect(args.settings) as session:
        current = await session.store.job(args.id)
        connections = {c.id: c for c in await session.store.connections()}
        check_job(changed, connections, FACTS, origin=path, hooks_problem=hooks_problem(changed))
        if problems := unowned_connection_problems(changed, connections):
            raise BadInput("\n".join(f"{args.file}: {problem}" for problem in problems))
        memory = Memory(session.js)
        asked = Asked(at=datetime.now(UTC))  # one clock for both: %NOW% alike
        now = await plan_run(session.store, memory, current, asked)
        with_file = await plan_run(session.store, memory, changed, asked)

    def side(job: Job, planned: PlannedRun) -> Side:
        return Side(
            over_limits=None if job.staging else planned.over_limits(job, None),
            plan_hash=planned.plan.hash,
            counts=planned.plan.counts,
            record_errors=len(planned.record_errors),
            source_records=planned.source_records,
            destination_records=planned.destination_records,
        )

    difference = plan_difference(now.plan.changes, with_file.plan.changes)
    found = JobDiff(
        job_id=args.id,
        file=str(path),
        definition=definition_changes(current, changed),
        now=side(current, now),
        with_file=side(changed, with_file),
        only_now=difference.only_before,
        only_with_file=difference.only_after,
    )
    if args.json:
        print_json(found)
    else:
        _print(found, args.limit)
    return 0


def _print(diff: JobDiff, limit: int) -> None:
    print(f"job {diff.job_id} as it stands → as {diff.file} defines it")
    if diff.definition:
        print(f"definition: {len(diff.definition)} difference(s)")
        for change in diff.definition:
            print(f"  {change.text()}")
    else:
        print("definition: the same")
    print("plans on today's data:")
    rows = [
        (name, str(getattr(diff.now.counts, name)), str(getattr(diff.with_file.counts, name)))
        for name in COUNTS
    ]
    rows.append(("record errors", str(diff.now.record_errors), str(diff.with_file.record_errors)))
    rows.append(("plan", diff.now.plan_hash[:12], diff.with_file.plan_hash[:12]))
    print_table(rows, ("  ", "AS IT STANDS", "WITH THE FILE"))
    for name, side in (("as it stands", diff.now), ("with the file", diff.with_file)):
        if side.over_limits is not None:
            print(
                f"{name}, over the safety limits, a run of this plan waits for approval "
                f"(writing nothing until then): {side.over_limits}"
            )
    only = len(diff.only_now) + len(diff.only_with_file)
    if not only:
        print("changes only one plan has: none — both plans make the same changes")
        return
    print(
        f"changes only one plan has: {only} field rows ({len(diff.only_now)} only as it "
        f"stands, marked -; {len(diff.only_with_file)} only with the file, marked +)"
    )
    shown = [("-", row) for row in diff.only_now] + [("+", row) for row in diff.only_with_file]
    shown.sort(key=lambda pair: (pair[1].object_type, pair[1].key, pair[1].field, pair[0]))
    for sign, row in shown[: max(limit, 0)]:
        print(f"  {sign} {_line(row)}")
    if len(shown) > limit:
        print(f"  … {len(shown) - limit} more (--limit N, or --json for every one)")


def _line(row: Row) -> str:
    what = f"{row.action:<7} {row.key}"
    if row.field:
        what += f"  {row.field}: {row.old_value or '∅'} → {row.new_value or '∅'}"
    if row.container and row.action in ("create", "move"):
        what += f"  → {row.container}"
    return what
