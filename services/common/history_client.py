"""How a client asks the recorder about the history (`idsync.cmd.<principal>.history`,
core request/reply): one question, every page of a paged answer, and a run's review —
for the command line and the portal alike."""

from __future__ import annotations

import csv
import io
from collections.abc import AsyncIterator
from typing import Any

import msgspec
import nats.errors

from core.engine.report import spreadsheet_safe
from core.errors import NotFound, Unreachable
from core.origins import fields_of
from core.runs import RunStory
from schemas.events import Event
from schemas.history import (
    ChangeRow,
    HistoryQuery,
    HistoryReply,
    JobVersion,
    encode,
    reply_decoder,
)
from schemas.jobs import FieldMap, Job
from schemas.logs import LogLine
from schemas.plan import RecordError
from schemas.subjects import command_subject

from .client import Session

VERB = "history"
ROW_COLUMNS = (
    *("at", "run_id", "job_id", "object_type", "key", "action"),
    *("field", "old", "new", "outcome", "error", "identifier", "container"),
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


class Review(msgspec.Struct, kw_only=True):
    """A run as the recorder keeps it: its story, record errors, changes, events, logs."""

    run: RunStory
    errors: list[RecordError]
    changes: list[ChangeRow]
    events: list[Event]
    logs: list[LogLine]


async def review(session: Session, run_id: str) -> Review:
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
    logs = [
        line
        async for r in pages(session, HistoryQuery(what="logs", run_id=run_id))
        for line in r.logs
    ]
    story.errors = errors
    return Review(run=story, errors=errors, changes=changes, events=events, logs=logs)


def cells(row: ChangeRow) -> tuple[str, ...]:
    """A change row's cells in ROW_COLUMNS order."""
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
        row.identifier,
        row.container,
    )


def csv_text(rows: list[ChangeRow]) -> str:
    """Change rows as CSV (header first), cells a spreadsheet would run made text."""
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(ROW_COLUMNS)
    writer.writerows([spreadsheet_safe(cell) for cell in cells(row)] for row in rows)
    return out.getvalue()


def field_map(job: Job, object_type: str, field: str) -> FieldMap | None:
    """How the job writes `field` of `object_type` (any type's, for a one-type job)."""
    for mapping in job.objects:
        if mapping.type == object_type or len(job.objects) == 1:
            found = next((f for f in mapping.fields if f.to == field), None)
            if found is not None:
                return found
    return None


class Why(msgspec.Struct, kw_only=True):
    """The change that last wrote a field of an object, the job's version its run was
    planned with (None: not recorded), and how that version maps the field."""

    row: ChangeRow
    version: JobVersion | None
    current_version: int
    planned_at: str
    source: FieldMap | None

    @property
    def source_known(self) -> str:
        """What is known of the source value: "kept" (the run's plan kept it, in
        `row.source`), "copied" (a plain copy: the source held the value written),
        "secret", or "unknown" (a run that kept none, or no field map)."""
        row, source = self.row, self.source
        if row.secret:
            return "secret"
        if row.source:
            return "kept"
        if source is not None and source.transform is None and source.resolve is None:
            return "copied"
        return "unknown"

    def summary(self) -> dict[str, Any]:
        row, version, source = self.row, self.version, self.source
        return {
            "run_id": row.run_id,
            "at": row.at,
            "action": row.action,
            "old": row.old,
            "new": row.new,
            "planned_at": self.planned_at,
            "job_version": version.version if version else None,
            "job_revision": version.revision if version else None,
            "job_applied_at": version.applied_at if version else None,
            "current_version": self.current_version or None,
            "source_field": source.source if source else None,
            "source_fields": list(fields_of(source)) if source else None,
            "source_values": row.source or None,
            "source_known": self.source_known,
            "transform": source.transform if source else None,
            "policy": source.policy if source else None,
        }


async def why_of(session: Session, job_id: str, key: str, field: str) -> Why:
    """Which run last wrote `field` of `key` by the job, and where it took it from."""
    reply = await ask(session, HistoryQuery(what="why", key=key, job_id=job_id, field=field))
    current = None if reply.versions else await session.store.find_job(job_id)
    row = reply.changes[0]
    version = reply.versions[0] if reply.versions else None
    job = version.job if version is not None else current
    return Why(
        row=row,
        version=version,
        current_version=reply.current_version,
        planned_at=reply.planned_at,
        source=field_map(job, row.object_type, field) if job is not None else None,
    )


_story = msgspec.json.Decoder(RunStory)


async def recorded_runs(
    session: Session,
    *,
    job_id: str = "",
    state: str = "",
    latest: bool = False,
    since: str = "",
    limit: int = 50,
) -> list[RunStory]:
    """The runs the recorder keeps, newest first (at most `limit`; of `job_id`, in
    `state`, asked for `since` then, or each job's last run when asked) — from its
    indexes, not the journal. Unreachable without a recorder; NotFound with its refusal."""
    query = HistoryQuery(
        what="runs", job_id=job_id, state=state, latest=latest, since=since, limit=limit
    )
    found: list[RunStory] = []
    async for reply in pages(session, query):
        found += [_story.decode(story) for story in reply.stories]
        if len(found) >= limit:
            break
    return found[:limit]
