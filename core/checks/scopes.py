"""What `check_job` asks of source filters (`where`) and leavers: conditions written
rightly, filters on the source side only, and leavers' actions the destination can apply."""

from __future__ import annotations

from collections.abc import Collection, Sequence

from core.engine.conditions import compile_condition
from core.engine.transforms_base import TransformError
from schemas.jobs import Job

from .facts import Report


def check_scopes(bad: Report, job: Job, cans: Sequence[Collection[str]] | None) -> None:
    """`cans`: what the destination can apply to each type's objects (None: unknown)."""
    _condition(bad, job.source.where, "$.source.where", "where")
    if job.destination.where is not None:
        bad("$.destination.where", "filters the source only: use query for the destination")
    for i, obj in enumerate(job.objects):
        at = f"$.objects[{i}]"
        if obj.source is not None:
            _condition(bad, obj.source.where, f"{at}.source.where", "where")
        if obj.destination is not None and obj.destination.where is not None:
            bad(f"{at}.destination.where", "filters the source only: use query")
        leavers = obj.leavers
        if leavers is None:
            continue
        _condition(bad, leavers.when, f"{at}.leavers.when", "when")
        can = cans[i] if cans is not None else None
        if can is not None and leavers.action not in can:
            bad(
                f"{at}.leavers.action",
                f"destination {job.destination.connection} cannot {leavers.action}; "
                f"choose one of {', '.join(a for a in ('disable', 'move', 'delete') if a in can)}",
            )
        if leavers.action == "move" and not (leavers.move_to or obj.move_to or "").strip():
            bad(f"{at}.leavers.move_to", 'expected where leavers go, such as "ou=Leavers,…"')
        if leavers.action == "delete" and leavers.new == "create":
            bad(f"{at}.leavers.new", 'a leaver deleted at once is never created: use "skip"')


def _condition(bad: Report, spec: object, path: str, name: str) -> None:
    if spec is None:
        return
    try:
        compile_condition(spec, path, name)
    except TransformError as error:
        bad(error.path, error.problem)
