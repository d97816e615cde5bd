"""Jobs with several object types, and jobs whose fields name other objects.

Each [[objects]] entry reads its own records: the job's endpoints with the entry's own
`source` and `destination` scope put over them (a file, a filter, object classes). All
types are planned together (engine/objects.py) so that references resolve against the
planned state of every type, and applied each by a provider opened for its type.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Sequence
from contextlib import AsyncExitStack, asynccontextmanager

from schemas.connections import Connection
from schemas.jobs import Job, ObjectMapping
from schemas.plan import Change, RecordError
from schemas.values import Record
from services.common.object_checks import endpoint_of
from services.common.store import Store
from services.runner.engine import (
    destination_multi_valued,
    managed_fields,
    source_multi_valued,
    with_container,
)
from services.runner.engine.context import MappingContext
from services.runner.engine.mapping import compile_mapping
from services.runner.engine.objects import ObjectType, plan_objects
from services.runner.engine.plan import Plan
from services.runner.engine.planned_state import Identify
from services.runner.engine.scripts import RecordSkipped
from services.runner.engine.transforms import RecordFailed
from services.runner.providers import open_provider
from services.runner.providers.base import Layout, Outcome, Provider

READ_BATCH = 5_000
Pair = tuple[Provider, Provider]


def has_references(job: Job) -> bool:
    return any(f.resolve is not None for obj in job.objects for f in obj.fields)


def several(job: Job) -> bool:
    """Whether the job needs planning over object types (several, or references)."""
    return len(job.objects) > 1 or has_references(job)


def source_layout(mapping: ObjectMapping) -> Layout:
    return Layout(multi_valued=source_multi_valued(mapping))


def destination_layout(mapping: ObjectMapping, *, identifiers: bool = False) -> Layout:
    """What the destination's provider is told of one type's fields; with `identifiers`
    every record read carries its identifier (a DN) for references to resolve to."""
    return Layout(
        keys=tuple(mapping.keys),
        fields=tuple(f.to for f in mapping.fields),
        multi_valued=destination_multi_valued(mapping),
        identifiers=identifiers,
    )


def open_pair(source_conn: Connection, target_conn: Connection, job: Job, at: int) -> Pair:
    mapping = job.objects[at]
    source = open_provider(
        source_conn, endpoint_of(job.source, mapping.source), source_layout(mapping)
    )
    target = open_provider(
        target_conn,
        endpoint_of(job.destination, mapping.destination),
        destination_layout(mapping, identifiers=has_references(job)),
    )
    return source, target


@asynccontextmanager
async def other_sides(store: Store, job: Job) -> AsyncIterator[list[Pair]]:
    """The providers of the job's object types after the first, opened; closed on exit."""
    pairs: list[Pair] = []
    if len(job.objects) > 1:
        source_conn = await store.connection(job.source.connection)
        target_conn = await store.connection(job.destination.connection)
        pairs = [open_pair(source_conn, target_conn, job, at) for at in range(1, len(job.objects))]
    async with AsyncExitStack() as stack:
        for source, target in pairs:
            stack.push_async_callback(source.close)
            stack.push_async_callback(target.close)
            await source.open(write=False)
            await target.open(write=True)
        yield pairs


async def plan_types(
    job: Job,
    pairs: Sequence[Pair],
    context: MappingContext,
    keys: list[str] | None,
    act_on_absence: bool,
) -> tuple[Plan, int, int, list[RecordError]]:
    """The whole plan of every object type: (plan, source records, destination records,
    records that failed mapping or resolving)."""
    types: list[ObjectType] = []
    errors: list[RecordError] = []
    read = [0, 0]
    for at, (mapping, (source, target)) in enumerate(zip(job.objects, pairs, strict=True)):
        mapped, fields, failed = await _read_source(mapping, source, target, context, at)
        everything = [record async for batch in target.read(READ_BATCH) for record in batch]
        read[0] += len(mapped) + len(failed)
        read[1] += len(everything)
        scoped = everything
        if keys is not None:  # imported here: planning imports this module
            from services.runner.planning import _wanted, only_keys

            mapped = only_keys(mapped, mapping, keys)
            scoped = only_keys(everything, mapping, keys)
            failed = [e for e in failed if _wanted(e.key, mapping, keys)]
        managed = managed_fields(mapping, fields)
        # A provider that names its objects (a directory) also adds and removes values.
        identify: Identify | None = getattr(target, "identifier", None)
        types.append(
            ObjectType(mapping, mapped, scoped, managed, identify, everything, identify is not None)
        )
        errors += failed
    the_plan, unresolved = await asyncio.to_thread(
        lambda: plan_objects(types, act_on_absence=act_on_absence)
    )
    return the_plan, read[0], read[1], errors + unresolved


async def _read_source(
    mapping: ObjectMapping, source: Provider, target: Provider, context: MappingContext, at: int
) -> tuple[list[Record], dict[str, None], list[RecordError]]:
    compiled = compile_mapping(mapping, context, f"$.objects[{at}]")
    records: list[Record] = []
    fields: dict[str, None] = {}
    errors: list[RecordError] = []
    async for batch in source.read(READ_BATCH):
        for record in batch:
            fields.update(dict.fromkeys(record))
            try:
                shaped = target.canonical(compiled.map(record))
            except RecordFailed as error:  # that record fails (or a script skips it)
                action = "skip" if isinstance(error, RecordSkipped) else "map"
                key = compiled.key_of(record)
                errors.append(RecordError(key=key, action=action, message=str(error)))
                continue
            records.append(with_container(shaped, record, mapping))
    return records, fields, errors


async def apply_by_type(job: Job, connection: Connection, changes: list[Change]) -> list[Outcome]:
    """Apply a batch whose changes may be of several types: each type by a provider opened
    with that type's scope and fields; the outcomes in the batch's order."""
    outcomes: list[Outcome | None] = [None] * len(changes)
    by_type = {obj.type: obj for obj in job.objects}
    for kind in dict.fromkeys(c.object_type for c in changes):
        mapping = by_type.get(kind, job.objects[0])
        at = [i for i, c in enumerate(changes) if c.object_type == kind]
        target = open_provider(
            connection,
            endpoint_of(job.destination, mapping.destination),
            destination_layout(mapping),
        )
        try:
            await target.open(write=True)
            for i, outcome in zip(at, await target.apply([changes[i] for i in at]), strict=True):
                outcomes[i] = outcome
        finally:
            await target.close()
    return [outcome or Outcome(error="not applied") for outcome in outcomes]
