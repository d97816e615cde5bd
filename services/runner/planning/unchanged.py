"""Incremental runs that create objects: the records that did not change may name them.

A group whose source record named a member before the member existed (or was skipped
for `if_none = "skip"` until then) has no change of its own when the member is created:
an incremental run reads only the new member's record. A whole run on the same data
would add the member to the group, and so would a run scoped to the member's key
(core/engine/references.py `follow_renames`, with `ObjectType.outside`). So an
incremental run that may create an object of a type others name (`resolve`) reads the
source of those others whole, for that alone: their records that did not change are the
`outside` that `follow_renames` gives the new object's name to, and nothing else of
theirs is planned. They are not counted as read, and they teach the run no watermark (the
changed records' read did: source.py `source_batches`).

Read only where it can matter: when some record read has a key that no object read
holds — a create, or at worst one that turns out not to be — of a type another type's
reference fields name; and not for a type whose source read every record anyway (its
change feed lost: `Learned.fell_back`).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence

from core.engine import match_key
from core.engine.context import MappingContext
from core.engine.objects import ObjectType
from core.engine.references import reference_fields
from schemas.jobs import Job
from schemas.values import Record
from services.common import tracing

from .reading import Learned
from .scoped import gathered
from .sides import READ_BATCH, Pair
from .source import mapper_of


def creating(types: Sequence[ObjectType]) -> set[str]:
    """The types others name of which the run may create an object: one of their records
    read has a key that no object read holds (every object of a type is read in a job
    with references: scoped.py `destination_lookup`)."""
    named = {f.resolve.type for t in types for f in reference_fields(t.mapping) if f.resolve}
    found: set[str] = set()
    for each in types:
        if each.mapping.type not in named or not each.source:
            continue
        keys, folded = each.mapping.keys, each.mapping.case_insensitive
        held = {match_key(r, keys, folded) for r in each.everything or each.destination}
        mapped = (match_key(r, keys, folded) for r in each.source)
        if any(key is not None and key not in held for key in mapped):
            found.add(each.mapping.type)
    return found


def naming(each: ObjectType, created: set[str]) -> bool:
    """Whether the type's reference fields name one of the `created` types."""
    named = {f.resolve.type for f in reference_fields(each.mapping) if f.resolve is not None}
    return bool(named & created)


async def with_unchanged(
    job: Job,
    pairs: Sequence[Pair],
    types: list[ObjectType],
    context: MappingContext,
    learned: Learned,
) -> list[ObjectType]:
    """`types` of an incremental run, each type whose records may name an object the run
    creates given its records that did not change as `outside` (see above)."""
    created = creating(types)
    if not created:
        return types
    out: list[ObjectType] = []
    for at, each in enumerate(types):
        if each.mapping.type in learned.fell_back or not naming(each, created):
            out.append(each)
            continue
        others = await unchanged_records(job, at, pairs[at], context, each)
        out.append(dataclasses.replace(each, outside=others))
    return out


async def unchanged_records(
    job: Job, at: int, pair: Pair, context: MappingContext, each: ObjectType
) -> list[Record]:
    """The `at`-th type's source records read whole and mapped, but for those of the
    records the run read (changed) and those of a key a record that failed holds (in
    either read: a key the source holds twice, or an object held as it is)."""
    source = pair[0]
    mapping = each.mapping
    mapper = mapper_of(job, at, pair, context)
    read = tracing.reads(source.read(READ_BATCH), side="source", object_type=mapping.type)
    records = await gathered(mapper.map(batch) async for batch in read)
    keys, folded = mapping.keys, mapping.case_insensitive
    left = {match_key(r, keys, folded) for r in each.source}
    left |= {failure.held for failure in (*each.failed, *mapper.failures)}
    first = {failure.scope for failure in each.failed if failure.held is None}
    first.discard(None)
    return [
        r
        for r in records
        if match_key(r, keys, folded) not in left and match_key(r, keys[:1], folded) not in first
    ]
