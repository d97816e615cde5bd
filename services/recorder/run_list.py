"""The `runs` question: the runs recorded, newest first (by when they were asked for),
of one job and in one state when asked, or each job's last run — read from the runs
table's indexes (runs_by_time, runs_of_state, runs_of_job), one page at a time."""

from __future__ import annotations

from typing import Any

import msgspec

from schemas.history import HistoryQuery

from .database import Database

NEWEST_FIRST = "ORDER BY requested_at DESC, run_id DESC"


def runs_sql(query: HistoryQuery) -> tuple[str, list[Any]]:
    """The statement (without its LIMIT and OFFSET) and its values."""
    where: list[str] = []
    values: list[Any] = []
    for column, value in (("job_id", query.job_id), ("state", query.state)):
        if value:
            where.append(f"{column} = ?")
            values.append(value)
    if query.since:
        where.append("requested_at >= ?")
        values.append(query.since)
    if not query.latest:
        filtered = f"WHERE {' AND '.join(where)} " if where else ""
        return f"SELECT story FROM runs {filtered}{NEWEST_FIRST}", values
    # Each job's last run: the latest time asked per job (runs_of_job), then its row.
    of_job = "WHERE job_id = ? " if query.job_id else ""
    last = f"SELECT job_id, max(requested_at) AS asked FROM runs {of_job}GROUP BY job_id"
    outer = [w for w in where if not w.startswith("job_id")]
    outer_values = [v for w, v in zip(where, values, strict=True) if not w.startswith("job_id")]
    filtered = f"WHERE {' AND '.join(outer)} " if outer else ""
    sql = (
        f"SELECT story FROM (SELECT r.* FROM runs r JOIN ({last}) l "
        "ON r.job_id = l.job_id AND r.requested_at = l.asked) latest "
        f"{filtered}{NEWEST_FIRST}"
    )
    return sql, [*([query.job_id] if query.job_id else []), *outer_values]


async def recent_runs(db: Database, query: HistoryQuery, limit: int) -> list[msgspec.Raw]:
    """Up to `limit` + 1 stories from `query.offset` (one more: there is a next page)."""
    sql, values = runs_sql(query)
    rows = await db.fetchall(f"{sql} LIMIT ? OFFSET ?", (*values, limit + 1, query.offset))
    return [msgspec.Raw(bytes(story)) for (story,) in rows]
