"""`idsync run review RUN`: a run as the recorder keeps it — who asked and who decided,
its plan and statistics, every record error, every change (`--export csv|json`), its
events in order, and the lines the services logged about it, whatever machine logged
them."""

from __future__ import annotations

import argparse
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import msgspec

from core.engine.report import COLUMNS
from core.run_texts import counts_line, duration, keys_line, warning_lines
from core.runs import approvers
from schemas.history import ChangeRow
from schemas.logs import LogLine
from services.common.history_client import Review, cells, review

from .client import connect
from .export import export_format
from .history import new_shown, write_csv
from .output import event_line, print_json, print_table, shown_value, stats_line


async def review_of(args: argparse.Namespace) -> Review:
    async with connect(args.settings) as session:
        return await review(session, args.run_id)


async def run_review(args: argparse.Namespace) -> int:
    target = _export_target(args.export, args.run_id)  # checked before asking
    review = await review_of(args)
    if target is not None:
        path, fmt = target
        write_review(review, path, fmt)
        if not args.json:
            print(f"exported {len(review.changes)} rows ({fmt}) to {path}")
            return 0
    if args.export == "csv":
        write_csv(review.changes)
        return 0
    if args.json or args.export == "json":
        print_json(review if args.json else review.changes)
        return 0
    _print(review, args.limit, args.logs)
    return 0


def _print(review: Review, limit: int, logs: int) -> None:
    run = review.run
    print(f"run {run.run_id} of job {run.job_id}: {run.state}")
    asked = f"{run.requested_at:%Y-%m-%d %H:%M:%S}" if run.requested_at else "-"
    print(f"  requested by {run.requested_by or '-'} ({run.trigger or '-'}) at {asked}")
    if approved := approvers(run):
        print(f"  approved by {', '.join(approved)}")
    if run.reason:
        print(f"  reason: {run.reason}")
    if run.planned is not None:
        print(f"  plan {run.plan_hash[:12]}: {counts_line(run.planned)}")
    if run.keys is not None:
        print(f"  {keys_line(run.keys)}")
    print(f"  {stats_line(run.stats)}")
    if run.duration is not None:
        print(f"  took {duration(run.duration)}")
    if run.warnings_total or run.warnings:
        print(f"warnings: {max(run.warnings_total, len(run.warnings))}")
        for warning in warning_lines(run.warnings, run.warnings_total):
            print(f"  {warning}")
    print(f"record errors: {len(review.errors)}")
    for error in review.errors:
        kind = f" ({error.object_type})" if error.object_type else ""
        print(f"  {error.action} {shown_value(error.key)}{kind}: {error.message}")
    shown = review.changes[: max(limit, 0)]
    more = (
        f", the first {len(shown)} below (--limit N, --export csv)"
        if len(shown) < len(review.changes)
        else ""
    )
    fields = sum(1 for row in review.changes if row.field)
    objects = len(review.changes) - fields  # a delete, disable, move or enable: one row
    told = f"{fields} field{'s' * (fields != 1)} written"
    told += f", {objects} objects deleted, disabled, moved or enabled" if objects else ""
    print(f"changes: {len(review.changes)} rows: {told}{more}")
    rows: list[Any] = [
        (c[4], c[5], c[6], c[7], new_shown(row), c[9] + (f": {c[10]}" if c[10] else ""))
        for row, c in zip(shown, map(cells, shown), strict=True)
    ]
    print_table(rows, ("  KEY", "ACTION", "FIELD", "OLD", "NEW", "OUTCOME"))
    print(f"events: {len(review.events)}")
    for event in review.events:
        print(f"  {event_line(event)}")
    shown_logs = review.logs[: max(logs, 0)]
    cut = (
        f", the first {len(shown_logs)} below (--logs N)"
        if len(shown_logs) < len(review.logs)
        else ""
    )
    print(f"log lines: {len(review.logs)}{cut}")
    for line in shown_logs:
        print(f"  {log_text(line)}")


def log_text(line: LogLine) -> str:
    """One logged line: time, level, who logged it (service@runner), event, key=values."""
    who = "@".join(part for part in (line.service, line.runner) if part) or "-"
    pairs = " ".join(f"{key}={value}" for key, value in line.fields.items())
    when = line.at[:23].replace("T", " ")
    return f"{when} {line.level:<7} {who} {line.event}" + (f" {pairs}" if pairs else "")


REVIEW_COLUMNS = (*COLUMNS, "outcome", "error", "applied_at", "batch", "identifier")
"""A preview export's columns, then what the run did with each row, and the object's
identifier at the destination (a DN, a row's key fields and values)."""


def _export_target(export: str | None, run_id: str) -> tuple[Path, str] | None:
    """Where --export writes a file: `xlsx` (a workbook, which no terminal shows) as
    RUN.xlsx here, a FILE named .csv, .xlsx or .json there; None: csv or json printed."""
    if export in (None, "csv", "json"):
        return None
    if export == "xlsx":
        return Path(f"{run_id}.xlsx"), "xlsx"
    path = Path(export)
    return path, export_format(path, None)


def _cells(row: ChangeRow) -> tuple[str, ...]:
    return (
        *(row.object_type, row.key, row.action, row.container, row.field, row.old, row.new),
        *(row.outcome, row.error, row.at, str(row.batch), row.identifier),
    )


def _summary(review: Review) -> Iterator[tuple[str, str | int]]:
    run = review.run
    yield "job", run.job_id
    yield "run", run.run_id
    yield "state", run.state
    yield "plan hash", run.plan_hash
    yield "requested by", run.requested_by
    yield "trigger", run.trigger
    yield "source records", run.source_records
    yield "destination records", run.destination_records
    for approver in approvers(run):
        yield "approved by", approver
    if run.reason:
        yield "reason", run.reason
    if run.keys is not None:
        yield "scope", keys_line(run.keys)
    if run.planned is not None:
        for name in run.planned.__struct_fields__:
            yield f"planned {name}", int(getattr(run.planned, name))
    for name in run.stats.__struct_fields__:
        value = getattr(run.stats, name)
        if isinstance(value, int):
            yield name, value
    if run.warnings_total or run.warnings:
        yield "warnings", max(run.warnings_total, len(run.warnings))
        for warning in warning_lines(run.warnings, run.warnings_total):
            yield "warning", warning
    yield "record errors", len(review.errors)
    yield "change rows", len(review.changes)
    yield "fields written", sum(1 for row in review.changes if row.field)


def write_review(review: Review, path: Path, fmt: str) -> None:
    from services.common.report_writer import write_table

    write_table(
        path,
        fmt,
        REVIEW_COLUMNS,
        (_cells(row) for row in review.changes),
        _summary(review),
        as_json=lambda: msgspec.json.encode(review.changes),
    )
