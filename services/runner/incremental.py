"""How a run reads its source: everything, or only what changed since the last run.

A job with `changes` runs incrementally when asked (`idsync job run JOB --changed-only`)
and, with `changes.full_every`, on its schedule between full runs. An incremental run
never acts on absence: it cannot see who is absent. Its watermark and the absences of
the lifecycle are read here, before planning; they are written when runs finish
(work.py) and when batches are applied (absences.py).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from schemas.jobs import Job, ObjectMapping
from services.common.definitions import parse_interval
from services.common.errors import BadInput
from services.common.watermarks import Memory, Watermark
from services.runner.engine.lifecycle import LIFECYCLE_ACTIONS, Lifecycle


@dataclass(frozen=True)
class Reading:
    """What planning needs to know of the job's past runs."""

    incremental: bool = False
    since: str | None = None
    """The watermark an incremental run reads from; None: every record."""
    lifecycle: Lifecycle | None = None


def choose(
    job: Job, changed_only: bool, trigger: str, mark: Watermark | None, now: datetime
) -> tuple[bool, str | None]:
    """(incremental, since) for a run of `job` asked for this way, at `now`."""
    changes = job.changes
    if changes is None:
        if changed_only:
            raise BadInput(
                f"job {job.id} says nothing about changes, so it cannot run --changed-only: "
                'add changes = { field = "modified_at" } (the source field holding a timestamp '
                "or a change counter; directories need none) or run it without --changed-only"
            )
        return False, None
    since = mark.value if mark is not None and mark.field == changes.field else None
    if changed_only:
        return True, since
    if trigger != "schedule" or changes.full_every is None:
        return False, None
    last_full = mark.full_at if mark is not None else None
    every = timedelta(seconds=parse_interval(changes.full_every))
    if last_full is None or now - last_full >= every:
        return False, None  # a full run is due (or there was none yet)
    return True, since


def has_lifecycle(mapping: ObjectMapping) -> bool:
    """Whether runs keep the days objects were found absent (delete later, restore)."""
    lasting = mapping.delete_after is not None or mapping.restore
    return mapping.on_destination_only in LIFECYCLE_ACTIONS and lasting


async def reading(
    memory: Memory, job: Job, changed_only: bool, trigger: str, now: datetime
) -> Reading:
    """The reading of one run, from the job's watermark and absences in KV."""
    incremental, since = choose(job, changed_only, trigger, await memory.watermark(job.id), now)
    mapping = job.objects[0]
    lifecycle = None
    if has_lifecycle(mapping):
        delete_after = mapping.delete_after
        lifecycle = Lifecycle(
            absent_since=await memory.absences(job.id),
            now=now,
            delete_after=timedelta(seconds=parse_interval(delete_after)) if delete_after else None,
        )
    return Reading(incremental=incremental, since=since, lifecycle=lifecycle)
