"""Planning large jobs in little memory: the destination read twice, never held whole.

Used when the destination can be read again cheaply (files and tables say so with
`rereadable = True`) and the job maps its fields: the first read keeps a digest per
key (engine/digests.py), the source is streamed against it and unchanged records are
dropped on the spot, and the second read takes only the destination records the exact
plan needs (updates, destination-only objects, duplicates). Same plan, same hash.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

from core.engine import managed_fields, plan
from core.engine.context import MappingContext
from core.engine.digests import DigestIndex
from core.engine.lifecycle import Lifecycle
from core.engine.plan import Plan
from schemas.jobs import Job, ObjectMapping
from schemas.values import Record
from services.common import tracing
from services.providers.base import Provider

from .reading import Reading
from .sides import READ_BATCH, Sides
from .source import Planned, SourceMapper, mapper_of, source_batches

LEAN_ABOVE = 250_000
"""Destination records above which planning keeps digests instead of records: reading the
destination twice costs more time than it saves memory on smaller ones."""


async def lean_enough(
    mapping: ObjectMapping, destination: Provider, keys: list[str] | None
) -> bool:
    """Whether the lean planning applies: every field mapped (so what is compared is known
    before the source is read), the whole job, a destination cheap to read twice — and
    large (its `size_hint`, when it has one, above LEAN_ABOVE)."""
    if not (mapping.fields and keys is None and getattr(destination, "rereadable", False)):
        return False
    size_hint = getattr(destination, "size_hint", None)
    return size_hint is None or await size_hint() > LEAN_ABOVE


async def plan_low_memory(
    job: Job,
    sides: Sides,
    context: MappingContext,
    reading: Reading,
    marks: dict[str, str | None],
) -> Planned:
    """The plan of a job of one large type (see `lean_enough`)."""
    mapping = job.objects[0]
    mapper = mapper_of(job, 0, sides.destination, context)
    the_plan, read, found = await plan_lean(
        mapping,
        sides.destination,
        source_batches(job, sides.source, reading, mapping.type, marks),
        mapper,
        act_on_absence=not reading.incremental,
        lifecycle=reading.lifecycles.get(mapping.type),
    )
    return Planned.of(the_plan, read, found, list(mapper.errors), [mapper])


async def plan_lean(
    mapping: ObjectMapping,
    destination: Provider,
    source: AsyncIterator[list[Record]],
    mapper: SourceMapper,
    *,
    act_on_absence: bool,
    lifecycle: Lifecycle | None,
) -> tuple[Plan, int, int]:
    """The plan, the source records read and the destination records read."""
    managed = managed_fields(mapping, ())
    index = DigestIndex(mapping, managed, lifecycle.absent_since if lifecycle else ())
    destination_count = 0
    digesting = tracing.reads(
        destination.read(READ_BATCH), side="destination", object_type=mapping.type
    )
    async for batch in digesting:
        destination_count += len(batch)
        for record in batch:
            index.add_destination(record)
    kept: list[Record] = []
    source_count = 0
    async for batch in source:
        source_count += len(batch)
        kept.extend(record for record in mapper.map(batch) if index.keep_source(record))
    act_on_absence = act_on_absence and not mapper.keyless_failures
    needed: list[Record] = []
    again = tracing.reads(
        destination.read(READ_BATCH), side="destination", object_type=mapping.type
    )
    async for batch in again:
        needed.extend(r for r in batch if index.destination_needed(r, absent=act_on_absence))
    the_plan = await asyncio.to_thread(
        plan,
        kept,
        needed,
        mapping,
        managed,
        act_on_absence=act_on_absence,
        lifecycle=lifecycle,
        held=frozenset(mapper.held),
        keyed_elsewhere=index.unchanged,
        taken=index.taken,
    )
    the_plan.counts.unchanged += index.unchanged
    return the_plan, source_count, destination_count
