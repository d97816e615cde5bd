"""The recorder's answers: `idsync run review` and `idsync history` ask them by
request/reply on `idsync.cmd.<principal>.history` (schemas/history.py).

Pages are cut at `limit` rows and at PAGE_BYTES of JSON, well under the server's
message limit; `next_offset` says where the next page starts.
"""

from __future__ import annotations

from typing import Any

import msgspec

from schemas.events import decode_event
from schemas.history import HistoryQuery, HistoryReply
from schemas.plan import RecordError

from .database import Database
from .logs import COLUMNS as LOG_COLUMNS
from .logs import log_line
from .project import CHANGE_COLUMNS, change_row
from .run_list import recent_runs
from .versions import planned_at, version_at, versions_of

PAGE_BYTES = 512 * 1024
MAX_LIMIT = 5000
_size = msgspec.json.Encoder()


async def answer(db: Database, query: HistoryQuery) -> HistoryReply:
    limit = max(1, min(query.limit, MAX_LIMIT))
    if query.what == "versions":
        return HistoryReply(versions=await versions_of(db, query.job_id))
    if query.what == "why":
        return await why(db, query)
    if query.what == "runs":
        stories, next_runs = _cut(await recent_runs(db, query, limit), limit, query.offset)
        return HistoryReply(stories=stories, next_offset=next_runs)
    if query.what == "roles":
        of_role = " AND job_id = ?" if query.job_id else ""
        rows = await _page(
            db,
            f"SELECT body FROM events WHERE type = 'role.changed'{of_role} "
            "ORDER BY seq LIMIT ? OFFSET ?",
            (*([query.job_id] if query.job_id else []), limit + 1, query.offset),
        )
        kept_roles, next_roles = _cut([decode_event(b) for (b,) in rows], limit, query.offset)
        return HistoryReply(events=kept_roles, next_offset=next_roles)
    if query.what in ("run", "errors", "events", "changes", "logs"):
        found = await db.fetchone("SELECT story FROM runs WHERE run_id = ?", (query.run_id,))
        if found is None:
            return HistoryReply(
                ok=False,
                error=f"the recorder has no run {query.run_id!r}: `idsync run list` shows the "
                "runs in the journal (a run the recorder has not reached yet appears shortly)",
            )
        if query.what == "run":
            total = await _count(db, "SELECT count(*) FROM changes WHERE run_id = ?", query.run_id)
            return HistoryReply(story=msgspec.Raw(found[0]), total=total)
    if query.what == "errors":
        rows = await _page(
            db,
            "SELECT key, object_type, action, message, skipped FROM record_errors "
            "WHERE run_id = ? ORDER BY n LIMIT ? OFFSET ?",
            (query.run_id, limit + 1, query.offset),
        )
        errors = [
            RecordError(key=k, object_type=t, action=a, message=m, skipped=bool(s))
            for k, t, a, m, s in rows
        ]
        kept, next_offset = _cut(errors, limit, query.offset)
        return HistoryReply(errors=kept, next_offset=next_offset)
    if query.what == "logs":
        rows = await _page(
            db,
            f"SELECT {LOG_COLUMNS} FROM log_lines WHERE run_id = ? "
            "ORDER BY at, source, batch, n LIMIT ? OFFSET ?",
            (query.run_id, limit + 1, query.offset),
        )
        lines, next_offset = _cut([log_line(tuple(row)) for row in rows], limit, query.offset)
        return HistoryReply(logs=lines, next_offset=next_offset)
    if query.what == "events":
        rows = await _page(
            db,
            "SELECT body FROM events WHERE run_id = ? ORDER BY seq LIMIT ? OFFSET ?",
            (query.run_id, limit + 1, query.offset),
        )
        events = [decode_event(body) for (body,) in rows]
        kept_events, next_offset = _cut(events, limit, query.offset)
        return HistoryReply(events=kept_events, next_offset=next_offset)
    if query.what == "changes":
        rows = await _page(
            db,
            f"SELECT {CHANGE_COLUMNS} FROM changes WHERE run_id = ? "
            "ORDER BY batch, n LIMIT ? OFFSET ?",
            (query.run_id, limit + 1, query.offset),
        )
    else:  # object: every change of one object, newest first
        where, values = ["key = ?"], [query.key]
        for column, value in (("job_id", query.job_id), ("field", query.field)):
            if value:
                where.append(f"{column} = ?")
                values.append(value)
        if query.since:
            where.append("at >= ?")
            values.append(query.since)
        rows = await _page(
            db,
            f"SELECT {CHANGE_COLUMNS} FROM changes WHERE {' AND '.join(where)} "
            "ORDER BY at DESC, run_id DESC, batch, n LIMIT ? OFFSET ?",
            (*values, limit + 1, query.offset),
        )
    changes, next_offset = _cut([change_row(row) for row in rows], limit, query.offset)
    return HistoryReply(changes=changes, next_offset=next_offset)


async def why(db: Database, query: HistoryQuery) -> HistoryReply:
    """The change that last wrote the field (applied), and the job's version its run was
    planned with. A multi-valued field's last change may be values added or removed."""
    fields = (query.field, f"{query.field} (added)", f"{query.field} (removed)")
    rows = await _page(
        db,
        f"SELECT {CHANGE_COLUMNS} FROM changes WHERE key = ? AND job_id = ? "
        "AND field IN (?, ?, ?) AND outcome = 'applied' "
        "ORDER BY at DESC, run_id DESC, batch, n LIMIT 1",
        (query.key, query.job_id, *fields),
    )
    if not rows:
        return HistoryReply(
            ok=False, error=f"no run of job {query.job_id!r} wrote {query.field!r} of {query.key!r}"
        )
    row = change_row(rows[0])
    when = await planned_at(db, row.run_id)
    version = await version_at(db, query.job_id, when)
    latest = await version_at(db, query.job_id, "9999")
    return HistoryReply(
        changes=[row],
        versions=[version] if version is not None else [],
        current_version=latest.version if latest is not None else 0,
        planned_at=when,
    )


async def _count(db: Database, sql: str, *values: Any) -> int:
    found = await db.fetchone(sql, values)
    return int(found[0]) if found else 0


async def _page(db: Database, sql: str, values: tuple[Any, ...]) -> list[Any]:
    return await db.fetchall(sql, values)


def _cut(items: list[Any], limit: int, offset: int) -> tuple[list[Any], int | None]:
    """At most `limit` items and PAGE_BYTES of JSON (at least one); where the next page
    starts, None when this one ends the list."""
    kept: list[Any] = []
    size = 0
    for item in items[:limit]:
        size += len(_size.encode(item))
        if kept and size > PAGE_BYTES:
            break
        kept.append(item)
    more = len(kept) < len(items)
    return kept, offset + len(kept) if more else None
