"""`idsync history KEY` and `idsync history why JOB KEY FIELD`: what every run did to an
object, as the recorder keeps it (services/recorder); `ask` is how every history
command asks the recorder."""

from __future__ import annotations

import argparse
import csv
import sys
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta

import msgspec
import nats.errors

from core.checks.intervals import parse_interval
from core.errors import BadInput, NotFound, Unreachable
from schemas.history import ChangeRow, HistoryQuery, HistoryReply, encode, reply_decoder
from schemas.jobs import FieldMap
from schemas.subjects import command_subject

from .client import Session, connect
from .output import print_json, print_table

VERB = "history"
ROW_COLUMNS = (
    *("at", "run_id", "job_id", "object_type", "key", "action"),
    *("field", "old", "new", "outcome", "error"),
)


async def ask(session: Session, query: HistoryQuery) -> HistoryReply:
    """One question to the recorder; NotFound with its answer when it has none."""
    subject = command_subject(session.settings.principal, VERB)
    try:
        answer = await session.nc.request(subject, encode(query), timeout=10)
    except nats.errors.NoRespondersError:
        raise Unreachable(
            "no recorder answers history queries: start it with `idsync up` (or "
            "`idsync serve recorder`)"
        ) from None
    except nats.errors.TimeoutError:
        session.raise_refusal()
        raise Unreachable("the recorder did not answer within 10 s") from None
    reply = reply_decoder.decode(answer.data)
    if not reply.ok:
        raise NotFound(reply.error or "the recorder has no answer")
    return reply


async def pages(session: Session, query: HistoryQuery) -> AsyncIterator[HistoryReply]:
    """Every page of a paged answer, in order."""
    while True:
        reply = await ask(session, query)
        yield reply
        if reply.next_offset is None:
            return
        query = msgspec.structs.replace(query, offset=reply.next_offset)


async def all_changes(session: Session, query: HistoryQuery) -> list[ChangeRow]:
    return [row async for reply in pages(session, query) for row in reply.changes]


def since(text: str | None, now: datetime | None = None) -> str:
    """`--since`: a duration back from now (7d, 12h) or a date or time (ISO 8601), as
    the ISO text the recorder compares with; "" for none."""
    if not text:
        return ""
    now = now or datetime.now(UTC)
    try:
        return (now - timedelta(seconds=parse_interval(text))).isoformat()
    except BadInput:
        pass
    try:
        when = datetime.fromisoformat(text)
    except ValueError:
        raise BadInput(
            f"--since {text!r}: expected a duration (7d, 12h, 30m) or a date (2026-01-31)"
        ) from None
    return (when if when.tzinfo else when.replace(tzinfo=UTC)).astimezone(UTC).isoformat()


def cells(row: ChangeRow) -> tuple[str, ...]:
    return (
        row.at[:19].replace("T", " "),
        row.run_id,
        row.job_id,
        row.object_type,
        row.key,
        row.action,
        row.field,
        row.old,
        row.new,
        row.outcome,
        row.error,
    )


def write_csv(rows: list[ChangeRow]) -> None:
    from core.engine.report import spreadsheet_safe

    writer = csv.writer(sys.stdout)
    writer.writerow(ROW_COLUMNS)
    writer.writerows([spreadsheet_safe(cell) for cell in cells(row)] for row in rows)


async def history(args: argparse.Namespace) -> int:
    words: list[str] = args.words
    if words[0] == "why" and len(words) == 4:
        return await why(args, *words[1:])
    if len(words) != 1:
        raise BadInput("expected `idsync history KEY` or `idsync history why JOB KEY FIELD`")
    query = HistoryQuery(
        what="object", key=words[0], job_id=args.job or "", since=since(args.since)
    )
    async with connect(args.settings) as session:
        rows = await all_changes(session, query)
    if args.json:
        print_json(rows)
        return 0
    if not rows:
        print(f"no change to {words[0]!r} recorded" + (f" by job {args.job}" if args.job else ""))
        return 0
    print_table(
        [
            (c[0], c[1], c[2], c[5], c[6], c[7], c[8], c[9] + (f": {c[10]}" if c[10] else ""))
            for c in map(cells, rows)
        ],
        ("AT", "RUN", "JOB", "ACTION", "FIELD", "OLD", "NEW", "OUTCOME"),
    )
    return 0


async def why(args: argparse.Namespace, job_id: str, key: str, field: str) -> int:
    """The run that last wrote the field's value, and where the job takes it from."""
    query = HistoryQuery(what="object", key=key, job_id=job_id, field=field, limit=50)
    async with connect(args.settings) as session:
        rows = [r for r in (await ask(session, query)).changes if r.outcome == "applied"]
        job = await session.store.find_job(job_id)
    if not rows:
        raise NotFound(f"no run of job {job_id!r} wrote {field!r} of {key!r}")
    row = rows[0]
    source: FieldMap | None = None
    if job is not None:
        for mapping in job.objects:
            if mapping.type == row.object_type or len(job.objects) == 1:
                source = next((f for f in mapping.fields if f.to == field), source)
    found = {
        "run_id": row.run_id,
        "at": row.at,
        "action": row.action,
        "old": row.old,
        "new": row.new,
        "source_field": source.source if source else None,
        "transform": source.transform if source else None,
        "policy": source.policy if source else None,
    }
    if args.json:
        print_json(found)
        return 0
    print(f"{field} of {key} = {row.new or '(no value)'}")
    print(f"  written by run {row.run_id} of job {job_id} at {row.at[:19].replace('T', ' ')}")
    print(f"  ({row.action}; before: {row.old or '(no value)'})")
    if source is None:
        print("  the job (as it is now) maps no such field")
        return 0
    print(f"  from source field {source.source}" + (f" (policy {source.policy})"))
    if source.transform is not None:
        print(f"  transformed by {msgspec.json.encode(source.transform).decode()}")
    return 0
