"""`idsync history KEY`, `idsync history why JOB KEY FIELD` and `idsync history versions
JOB`: what every run did to an object, and the job's definitions, as the recorder keeps
them (services/recorder); `ask` is how every history command asks the recorder."""

from __future__ import annotations

import argparse
import sys
from datetime import UTC, datetime, timedelta

import msgspec

from core.checks.intervals import parse_interval
from core.errors import BadInput
from core.origins import fields_of
from schemas.history import ChangeRow, HistoryQuery
from services.common.history_client import Why, all_changes, ask, cells, csv_text, why_of

from .client import connect
from .output import print_json, print_table


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


def write_csv(rows: list[ChangeRow]) -> None:
    sys.stdout.write(csv_text(rows))


async def history(args: argparse.Namespace) -> int:
    words: list[str] = args.words
    if words[0] == "why" and len(words) == 4:
        return await why(args, *words[1:])
    if words[0] == "versions" and len(words) == 2:
        return await versions(args, words[1])
    if len(words) != 1:
        raise BadInput(
            "expected `idsync history KEY`, `idsync history why JOB KEY FIELD` or "
            "`idsync history versions JOB`"
        )
    query = HistoryQuery(
        what="object", key=words[0], job_id=args.job or "", since=since(args.since)
    )
    async with connect(args.settings) as session:
        rows = await all_changes(session, query)
    if args.json:
        print_json(rows)
        return 0
    if not rows:
        print(nothing_recorded(words[0], args.job, args.since))
        return 0
    print_table(
        [
            (
                *(c[0], c[1], c[2], c[5], c[11] or "-", c[6], c[7], new_shown(row)),
                c[9] + (f": {c[10]}" if c[10] else ""),
            )
            for row, c in zip(rows, map(cells, rows), strict=True)
        ],
        ("AT", "RUN", "JOB", "ACTION", "IDENTIFIER", "FIELD", "OLD", "NEW", "OUTCOME"),
    )
    return 0


def nothing_recorded(key: str, job: str | None, since_text: str | None) -> str:
    """What `idsync history KEY` says when no row matched: within the filters it was given,
    so that changes older than `--since` are not taken for none at all."""
    said = f"no change to {key!r} recorded" + (f" by job {job}" if job else "")
    if since_text:
        said += f" since {since_text} (older changes: leave out --since)"
    return said


def new_shown(row: ChangeRow) -> str:
    """A row's new value as a table shows it: a row of no field (a move) shows the
    container the object went to."""
    if not row.field and row.container:
        return f"→ {row.container}"
    return row.new


async def why(args: argparse.Namespace, job_id: str, key: str, field: str) -> int:
    """The run that last wrote the field's value, and where the job's version that run
    was planned with took it from."""
    async with connect(args.settings) as session:
        answer = await why_of(session, job_id, key, field)
    row, version, source = answer.row, answer.version, answer.source
    found = answer.summary()
    if args.json:
        print_json(found)
        return 0
    print(f"{row.field} of {key} = {row.new or '(no value)'}")
    print(f"  written by run {row.run_id} of job {job_id} at {row.at[:19].replace('T', ' ')}")
    print(f"  ({row.action}; before: {row.old or '(no value)'})")
    if version is not None:
        now = (
            "the job's current version"
            if version.version == answer.current_version
            else f"the job is at version {answer.current_version} now"
        )
        print(
            f"  planned with job version {version.version} (revision {version.revision}, "
            f"applied {version.applied_at[:19].replace('T', ' ')}; {now})"
        )
        told = f"job version {version.version}"
    else:
        print(
            "  the job's version when that run was planned is not recorded: "
            "what follows is the job as it is now"
        )
        told = "the job (as it is now)"
    if source is None:
        print(f"  {told} maps no field {field}")
        return 0
    read = fields_of(source)
    named = f"field {read[0]}" if len(read) == 1 else f"fields {', '.join(read)}"
    print(f"  from source {named if read else 'fields: none'} (policy {source.policy})")
    if source.transform is not None:
        print(f"  transformed by {msgspec.json.encode(source.transform).decode()}")
    print(f"  {_held(answer)}")
    return 0


def _held(answer: Why) -> str:
    """What the source held, as far as the run kept it."""
    known = answer.source_known
    if known == "kept":
        return f"the source held {answer.row.source} (as the run read it)"
    if known == "copied":
        return "the source held the value written (copied as it is)"
    if known == "secret":
        return "a secret: neither it nor its source values are kept"
    return "the source's value is not known: the run kept none for this field"


async def versions(args: argparse.Namespace, job_id: str) -> int:
    """`idsync history versions JOB`: every recorded definition of the job."""
    async with connect(args.settings) as session:
        reply = await ask(session, HistoryQuery(what="versions", job_id=job_id))
    if args.json:
        print_json(reply.versions)
        return 0
    if not reply.versions:
        print(f"no version of job {job_id!r} recorded")
        return 0
    print_table(
        [
            (
                str(v.version),
                str(v.revision),
                v.applied_at[:19].replace("T", " "),
                "deleted" if v.deleted else (v.job.display_title if v.job else "(unreadable)"),
            )
            for v in reply.versions
        ],
        ("VERSION", "REVISION", "APPLIED (UTC)", "TITLE"),
    )
    return 0
