"""Planning in memory: every record of every object type held, the types planned
together so that references resolve against the planned state of them all."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence

from schemas.jobs import Job
from services.runner.engine import managed_fields
from services.runner.engine.context import MappingContext
from services.runner.engine.objects import ObjectType, plan_objects
from services.runner.engine.planned_state import Identify

from .reading import Reading
from .sides import READ_BATCH, Pair
from .source import Planned, mapper_of, only_keys, source_batches, wanted


async def plan_in_memory(
    job: Job,
    pairs: Sequence[Pair],
    keys: list[str] | None,
    context: MappingContext,
    reading: Reading,
    marks: dict[str, str | None],
) -> Planned:
    """Each type's source and destination read whole (the run's scope kept when it has
    keys), then one plan of them all."""
    types: list[ObjectType] = []
    mappers = []
    read = found = 0
    for at, (mapping, (source, target)) in enumerate(zip(job.objects, pairs, strict=True)):
        mapper = mapper_of(job, at, target, context)
        batches = source_batches(job, source, reading, mapping.type, marks)
        mapped = [record async for batch in batches for record in mapper.map(batch)]
        everything = [record async for batch in target.read(READ_BATCH) for record in batch]
        read += len(mapped) + len(mapper.errors)
        found += len(everything)
        scoped = everything
        if keys is not None:
            mapped = only_keys(mapped, mapping, keys)
            scoped = only_keys(everything, mapping, keys)
            mapper.errors = [e for e in mapper.errors if wanted(e.key, mapping, keys)]
        # A provider that names its objects (a directory) also adds and removes values.
        identify: Identify | None = getattr(target, "identifier", None)
        types.append(
            ObjectType(
                mapping,
                mapped,
                scoped,
                managed_fields(mapping, mapper.fields),
                identify,
                everything,
                identify is not None,
                lifecycle=reading.lifecycles.get(mapping.type),
                held=frozenset(mapper.held),
                blind=mapper.keyless_failures > 0,
            )
        )
        mappers.append(mapper)
    act_on_absence = keys is None and not reading.incremental
    the_plan, unresolved = await asyncio.to_thread(
        lambda: plan_objects(types, act_on_absence=act_on_absence)
    )
    errors = [error for mapper in mappers for error in mapper.errors] + unresolved
    return Planned.of(the_plan, read, found, errors, mappers)
