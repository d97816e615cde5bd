"""Who may read which history (roles: core/roles.py). The history holds every value a
run wrote, so once roles are in force a person sees it with `history.view-all`, or with
`history.view-own` for the jobs they own only (a question about one run, one job, or
one object asked with `--job`)."""

from __future__ import annotations

from core.checks.ownership import owned_by
from schemas.history import HistoryQuery
from services.common.bus import Bus
from services.common.roles import authority

from .database import Database

_ONE_RUN = ("run", "errors", "events", "changes", "logs")


async def history_refusal(
    bus: Bus, db: Database, principal: str, query: HistoryQuery
) -> str | None:
    """Why `principal` may not have this answer; None when they may."""
    known = await authority(bus.js, bus.settings.home)
    if not known.in_force or known.refusal("history-any", principal) is None:
        return None
    if query.what == "roles":
        return known.refusal("history-any", principal)  # about people, not one's jobs
    if (refused := known.refusal("history-own", principal)) is not None:
        return refused
    job_id = query.job_id
    if query.what in _ONE_RUN:
        found = await db.fetchone("SELECT job_id FROM runs WHERE run_id = ?", (query.run_id,))
        if found is None:
            return None  # the answer says there is no such run
        job_id = str(found[0])
    if not job_id:
        return (
            f"{principal} may see the history of the jobs they own only: name one of them "
            "(--job JOB)"
        )
    job = await bus.store.find_job(job_id)
    if job is not None and owned_by(principal, job.owners):
        return None
    return known.refusal("history-any", principal)
