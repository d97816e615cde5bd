"""`idsync run review RUN`: a run as the recorder keeps it — who asked and who decided,
its plan and statistics, every record error, every change (`--export csv|json`), and
its events in order."""

from __future__ import annotations

import argparse
from typing import Any

import msgspec

from core.run_texts import duration
from core.runs import RunStory
from schemas.events import Event
from schemas.history import ChangeRow, HistoryQuery
from schemas.plan import RecordError

from .client import connect
from .history import all_changes, ask, cells, pages, write_csv
from .output import event_line, print_json, print_table, stats_line


class Review(msgspec.Struct, kw_only=True):
    run: RunStory
    errors: list[RecordError]
    changes: list[ChangeRow]
    events: list[Event]


async def review_of(args: argparse.Namespace) -> Review:
    run_id = args.run_id
    async with connect(args.settings) as session:
        first = await ask(session, HistoryQuery(what="run", run_id=run_id))
        story = msgspec.json.decode(first.story, type=RunStory)
        errors = [
            e
            async for r in pages(session, HistoryQuery(what="errors", run_id=run_id))
            for e in r.errors
        ]
        events = [
            e
            async for r in pages(session, HistoryQuery(what="events", run_id=run_id))
            for e in r.events
        ]
        changes = await all_changes(session, HistoryQuery(what="changes", run_id=run_id))
    story.errors = errors
    return Review(run=story, errors=errors, changes=changes, events=events)


async def run_review(args: argparse.Namespace) -> int:
    review = await review_of(args)
    if args.export == "csv":
        write_csv(review.changes)
        return 0
    if args.export == "json" or args.json:
        print_json(review if args.json else review.changes)
        return 0
    _print(review, args.limit)
    return 0


def _print(review: Review, limit: int) -> None:
    run = review.run
    print(f"run {run.run_id} of job {run.job_id}: {run.state}")
    asked = f"{run.requested_at:%Y-%m-%d %H:%M:%S}" if run.requested_at else "-"
    print(f"  requested by {run.requested_by or '-'} ({run.trigger or '-'}) at {asked}")
    if run.approvals:
        print(f"  approved by {', '.join(run.approvals)}")
    if run.reason:
        print(f"  reason: {run.reason}")
    if run.planned is not None:
        c = run.planned
        print(
            f"  plan {run.plan_hash[:12]}: {c.create} create, {c.update} update, "
            f"{c.delete} delete, {c.unchanged} unchanged, {c.skipped} skipped"
        )
    print(f"  {stats_line(run.stats)}")
    if run.duration is not None:
        print(f"  took {duration(run.duration)}")
    print(f"record errors: {len(review.errors)}")
    for error in review.errors:
        kind = f" ({error.object_type})" if error.object_type else ""
        print(f"  {error.action} {error.key}{kind}: {error.message}")
    shown = review.changes[: max(limit, 0)]
    more = (
        f", the first {len(shown)} below (--limit N, --export csv)"
        if len(shown) < len(review.changes)
        else ""
    )
    print(f"changes: {len(review.changes)} fields written{more}")
    rows: list[Any] = [
        (c[4], c[5], c[6], c[7], c[8], c[9] + (f": {c[10]}" if c[10] else ""))
        for c in map(cells, shown)
    ]
    print_table(rows, ("  KEY", "ACTION", "FIELD", "OLD", "NEW", "OUTCOME"))
    print(f"events: {len(review.events)}")
    for event in review.events:
        print(f"  {event_line(event)}")
