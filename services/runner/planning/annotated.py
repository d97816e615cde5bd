"""What the history keeps of a plan's changes besides the writes: each object's own
identifier at the destination (an LDAP DN) and, for a field a transformation computed,
the source values it was computed from (core/origins.py).

A destination that names its objects besides their keys says how (`object_id`): the
name its read found for the object, or the one a create gives it. Both are put in the
changes before the plan's hash is made, the same way for a run and its preview; a plan
with neither is left as it is.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import msgspec

from core.engine.plan import Plan, plan_hash
from core.origins import Origins
from schemas.jobs import Job
from schemas.plan import Change

from .sides import Pair

ObjectId = Callable[[Change], str | None]


def object_ids(job: Job, pairs: Sequence[Pair]) -> dict[str, ObjectId]:
    """Per object type, how its destination names an object (none: by its key)."""
    found: dict[str, ObjectId] = {}
    for mapping, (_, target) in zip(job.objects, pairs, strict=True):
        named: ObjectId | None = getattr(target, "object_id", None)
        if named is not None:
            found[mapping.type] = named
    return found


def annotated(
    the_plan: Plan, named: dict[str, ObjectId], origins: dict[str, Origins | None]
) -> Plan:
    """The plan with its objects' identifiers and its values' sources, its hash made again."""
    kept = {kind: found for kind, found in origins.items() if found is not None}
    if not named and not kept:
        return the_plan
    changes = [_of(change, named, kept) for change in the_plan.changes]
    return msgspec.structs.replace(the_plan, changes=changes, hash=plan_hash(changes))


def _of(change: Change, named: dict[str, ObjectId], origins: dict[str, Origins]) -> Change:
    object_id, found = named.get(change.object_type), origins.get(change.object_type)
    identifier = (object_id(change) or "") if object_id is not None else ""
    sources = found.of(change) if found is not None else {}
    if not identifier and not sources:
        return change
    return msgspec.structs.replace(change, identifier=identifier, sources=sources)
