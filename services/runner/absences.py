"""Keeping the lifecycle's absences and the job's watermark as runs apply and finish.

An absence is written by the runner that applies the disable (or move) for it — not
when it is planned — so an object whose disable failed is disabled again by the next
run. A delete or a restore that was applied forgets it. The watermark moves only when
a run has finished (never a failed, cancelled, denied or staged one, nor one scoped to
keys), and its value only when no record failed, so the next incremental run reads the
failed records again.
"""

from __future__ import annotations

from datetime import datetime

import structlog

from core.engine import match_key
from core.engine.lifecycle import every_way, has_lifecycle, keeps_deleted, taken_away, undoes
from schemas.jobs import Job
from schemas.plan import Change, RunStats
from services.common.runs import RunState
from services.common.watermarks import Memory, source_of

log = structlog.get_logger("idsync.runner")


async def remember(
    memory: Memory, job: Job, changes: list[Change], errors: list[str | None], at: datetime | None
) -> None:
    """Record the absences that the applied changes started or ended (`errors[i]` is None
    for a change that was applied)."""
    if at is None or not any(has_lifecycle(mapping) for mapping in job.objects):
        return
    by_type = {mapping.type: mapping for mapping in job.objects}
    for change, error in zip(changes, errors, strict=True):
        if error is not None or change.action not in ("disable", "move", "delete", "enable"):
            continue
        mapping = by_type.get(change.object_type, job.objects[0])
        if not has_lifecycle(mapping):
            continue
        key = match_key(change.match, mapping.keys, mapping.case_insensitive)
        if key is None:
            continue
        # A move for absence (or leaving) goes to `move_to`; a move back anywhere else —
        # where new objects go too (no container: the destination's own). A delete ends
        # the object, and its absence with it. How it went is kept: a restore undoes that,
        # a way at a time — an enable applied whose move back failed is still to be moved.
        if ways := taken_away(mapping, change):
            await memory.mark_absent(job.id, mapping.type, key, change.key, at, ways)
        elif change.action == "delete" and keeps_deleted(mapping):
            # Kept deleted: a leaver the source still holds is no new one to create.
            await memory.mark_deleted(job.id, mapping.type, key, change.key, at)
        elif (way := undoes(change)) is not None:
            await memory.undo(job.id, mapping.type, key, way, every_way(mapping))
        else:
            await memory.forget_absent(job.id, mapping.type, key)


async def forget_returned(memory: Memory, job: Job, returned: dict[str, list[str]]) -> None:
    """Objects back in the source whose absences end as the run is planned (core/engine/
    lifecycle.py `returned`): without `restore` nothing is applied to them; those no more
    there (deleted) are created anew. A restore applied forgets the others'."""
    for mapping in job.objects:
        for key in returned.get(mapping.type, []):
            await memory.forget_absent(job.id, mapping.type, key)


async def advance_watermark(
    memory: Memory, job: Job, run_id: str, state: RunState, totals: RunStats
) -> None:
    """After the run finished: the job's next incremental run reads from here. A run
    scoped to keys moves nothing: it read every changed record but wrote only those of
    its keys (the others' changes are still to be read), and acted on no absence (no
    full run)."""
    if job.changes is None or state.approved_at is None or state.keys:
        return
    value = state.watermark if totals.failed == 0 else None
    mark = await memory.advance(
        job.id,
        run_id,
        state.approved_at,
        field=state.watermark_field or job.changes.field,
        source=state.watermark_source or source_of(job),
        value=value,
        full=not state.incremental,
    )
    log.info("watermark", value=mark.value, kept_old=value is None, full=not state.incremental)
