"""How a client asks the recorder about the history (`idsync.cmd.<principal>.history`,
core request/reply): one question, every page of a paged answer, and a run's review —
for the command line and the portal alike."""

from __future__ import annotations

import csv
import io
from collections.abc import AsyncIterator

import msgspec
import nats.errors

from core.engine.report import spreadsheet_safe
from core.errors import NotFound, Unreachable
from core.runs import RunStory
from schemas.events import Event
from schemas.history import ChangeRow, HistoryQuery, HistoryReply, encode, reply_decoder
from schemas.logs import LogLine
from schemas.plan import RecordError
from schemas.subjects import command_subject

from .client import Session

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
    )


def csv_text(rows: list[ChangeRow]) -> str:
    """Change rows as CSV (header first), cells a spreadsheet would run made text."""
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(ROW_COLUMNS)
    writer.writerows([spreadsheet_safe(cell) for cell in cells(row)] for row in rows)
    return out.getvalue()
