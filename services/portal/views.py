"""What the API and the pages show of jobs, connections and runs (plain data, JSON-ready)."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import msgspec
import nats.js.errors

from core.errors import NotFound
from core.history import batch_rows, secrets_of
from core.runs import RunStory
from schemas.connections import Connection
from schemas.events import Event, RunBatchApplied, RunPlanned, is_end
from schemas.jobs import Job
from schemas.work import StoredPlan
from services.common.bus import Bus
from services.common.stored_plans import changes_of, load_plan

SECRET_FIELDS = frozenset({"password", "secret", "certificate", "client_secret", "token"})
"""Connection fields that say where a secret is: shown as "set", never their value."""


def connection_view(connection: Connection) -> dict[str, Any]:
    shown: dict[str, Any] = msgspec.to_builtins(connection)
    for name in SECRET_FIELDS & shown.keys():
        shown[name] = "set" if shown[name] else None
    return shown


def job_view(job: Job, last: RunStory | None = None) -> dict[str, Any]:
    return {
        "id": job.id,
        "title": job.display_title,
        "enabled": job.enabled,
        "source": job.source.connection,
        "destination": job.destination.connection,
        "types": [mapping.type for mapping in job.objects],
        "last_run": brief(last) if last is not None else None,
    }


def brief(run: RunStory, progress: dict[str, tuple[int, int]] | None = None) -> dict[str, Any]:
    done, total = (progress or {}).get(run.run_id, (0, 0))
    return {
        "run_id": run.run_id,
        "job_id": run.job_id,
        "state": run.state,
        "ended": run.ended_at is not None,
        "requested_by": run.requested_by,
        "trigger": run.trigger,
        "requested_at": run.requested_at.isoformat() if run.requested_at else None,
        "ended_at": run.ended_at.isoformat() if run.ended_at else None,
        "stats": msgspec.to_builtins(run.stats),
        "reason": run.reason,
        "batches_applied": done,
        "batches": total,
    }


def progress(events: Iterable[Event]) -> dict[str, tuple[int, int]]:
    """Per run: batches applied, and batches its plan in force has."""
    found: dict[str, tuple[int, int]] = {}
    for event in events:
        done, total = found.get(event.run_id, (0, 0))
        if isinstance(event, RunPlanned):
            found[event.run_id] = (0, event.batches)
        elif isinstance(event, RunBatchApplied):
            found[event.run_id] = (done + 1, event.batches)
        elif is_end(event) and total:
            found[event.run_id] = (total, total)
    return found


async def plan_rows(
    bus: Bus, plan: StoredPlan, job: Job | None, key: str | None = None
) -> list[dict[str, str]]:
    """The planned changes as rows (one per field; secrets shown only as set, as the
    history keeps them), or only those of `key` — from the plan, or its batches kept
    apart (services/common/stored_plans.py)."""
    secrets = secrets_of(job)
    changes = [change async for change in changes_of(bus, plan)]
    wanted = key.casefold() if key is not None else None
    found = [
        {
            "object_type": row.object_type,
            "key": row.key,
            "action": row.action,
            "container": row.container,
            "field": row.field,
            "old": row.old,
            "new": row.new,
        }
        for row in batch_rows(plan.run_id, plan.job_id, 0, changes, secrets)
        if wanted is None or row.key.casefold() == wanted
    ]
    return found


async def stored_plan(bus: Bus, run_id: str) -> StoredPlan:
    """The run's plan as stored once it is applied; NotFound said plainly otherwise (a
    plan waiting for approval is kept only as its counts until it is approved)."""
    try:
        return await load_plan(bus, run_id)
    except nats.js.errors.NotFoundError:
        raise NotFound(
            f"run {run_id}'s changes are not stored: a plan is kept once it is approved to "
            "run (one waiting for approval only as its counts); `idsync job preview JOB` "
            "plans it again"
        ) from None
