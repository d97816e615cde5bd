"""Reading both sides of a job and computing its whole plan: used by runs and previews."""

from __future__ import annotations

import asyncio
import os
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime

import structlog

from schemas.jobs import Job, ObjectMapping
from schemas.plan import RecordError
from schemas.values import Record
from services.common.errors import BadInput
from services.common.store import Store
from services.runner.engine import (
    managed_fields,
    match_key,
    plan,
)
from services.runner.engine.context import MappingContext
from services.runner.engine.mapping import compile_mapping
from services.runner.engine.passwords import PasswordSpec
from services.runner.engine.plan import Plan
from services.runner.engine.unique import taken_in
from services.runner.providers.base import ChangeReader, Provider

from .incremental import Reading
from .lean import SourceMapper, lean_enough, plan_lean
from .object_types import Pair, open_pair, other_sides, plan_types, several

READ_BATCH = 5_000

log = structlog.get_logger("idsync.runner")


@dataclass(frozen=True)
class Sides:
    source: Provider
    destination: Provider
    others: list[Pair] = field(default_factory=list)
    """The sides of the job's other object types (object_types.py), in order."""


@dataclass(frozen=True)
class PlannedRun:
    plan: Plan
    source_records: int
    destination_records: int
    record_errors: list[RecordError] = field(default_factory=list)
    """Source records that could not be mapped (a transformation failed): not planned,
    to be counted as failed; the other records are planned as usual."""
    generated: dict[str, PasswordSpec] = field(default_factory=dict)
    """Destination fields whose passwords are made when a create is applied."""
    incremental: bool = False
    """Only changed source records were read; nothing was done about absence."""
    watermark: str | None = None
    """Where the next incremental run reads from, once this one has finished."""


@asynccontextmanager
async def open_sides(store: Store, job: Job) -> AsyncIterator[Sides]:
    """Both providers of the job, opened and closed on the way out. The destination is
    checked for writing at once, for previews too: a job that cannot write cannot run."""
    source_connection = await store.connection(job.source.connection)
    destination_connection = await store.connection(job.destination.connection)
    source, destination = open_pair(source_connection, destination_connection, job, 0)
    try:
        await source.open(write=False)
        await destination.open(write=True)
        async with other_sides(store, job) as others:
            yield Sides(source, destination, others)
    finally:
        await source.close()
        await destination.close()


async def plan_job(
    job: Job,
    sides: Sides,
    keys: list[str] | None = None,
    context: MappingContext | None = None,
    reading: Reading | None = None,
) -> PlannedRun:
    """Read every record of both sides and compute the plan (nothing is written).
    A run scoped to some keys sees only those objects and never acts on absence.
    `context` fills the transformations' variables (%RUN_ID%, %NOW%, %ENV:…%).
    `reading` says whether only changed source records are read (then absence is not
    acted on either) and holds the lifecycle's absences (incremental.py)."""
    reading = reading or Reading()
    if several(job):  # object types planned together, references resolved across them
        context = context or default_context(job)
        absence = keys is None and not reading.incremental
        pairs = [(sides.source, sides.destination), *sides.others]
        planned = await plan_types(job, pairs, context, keys, absence)
        for warning in planned[0].warnings:
            log.warning("plan", note=warning)
        return PlannedRun(*planned, incremental=reading.incremental)
    mapping = job.objects[0]
    compiled = compile_mapping(mapping, context or default_context(job))
    mapper = SourceMapper(compiled, sides.destination.canonical, mapping)
    watermark = sides.source.watermark if isinstance(sides.source, ChangeReader) else None
    if await lean_enough(mapping, sides.destination, keys):  # a million records, little memory
        lean, read, found = await plan_lean(
            mapping,
            sides.destination,
            _source_batches(job, sides.source, reading),
            mapper,
            act_on_absence=not reading.incremental,
            lifecycle=reading.lifecycle,
        )
        for warning in lean.warnings:
            log.warning("plan", note=warning)
        return PlannedRun(
            lean,
            read,
            found,
            mapper.errors,
            compiled.generated,
            incremental=reading.incremental,
            watermark=watermark() if watermark else None,
        )
    source_records: list[Record] = []
    async for batch in _source_batches(job, sides.source, reading):
        source_records.extend(mapper.map(batch))
    record_errors, source_fields = mapper.errors, mapper.fields
    destination_records: list[Record] = []
    async for batch in sides.destination.read(READ_BATCH):
        destination_records.extend(batch)
    counted = (len(source_records) + len(record_errors), len(destination_records))
    taken = taken_in(mapping, destination_records)  # every object's, before any scoping
    if keys is not None:
        source_records = only_keys(source_records, mapping, keys)
        destination_records = only_keys(destination_records, mapping, keys)
        record_errors = [e for e in record_errors if _wanted(e.key, mapping, keys)]
    managed = managed_fields(mapping, source_fields)
    the_plan = await asyncio.to_thread(
        plan,
        source_records,
        destination_records,
        mapping,
        managed,
        act_on_absence=keys is None and not reading.incremental,
        lifecycle=reading.lifecycle,
        taken=taken,
    )
    for warning in the_plan.warnings:
        log.warning("plan", note=warning)
    return PlannedRun(
        the_plan,
        *counted,
        record_errors,
        compiled.generated,
        incremental=reading.incremental,
        watermark=watermark() if watermark else None,
    )


def _source_batches(job: Job, source: Provider, reading: Reading) -> AsyncIterator[list[Record]]:
    """The source's records: only the changed ones for an incremental run. A full run of
    a job with `changes` reads them through the change reader too, to learn the watermark."""
    if job.changes is None:
        return source.read(READ_BATCH)
    if not isinstance(source, ChangeReader):
        raise BadInput(
            f"job {job.id}: the source {job.source.connection} cannot read only changed "
            "records; remove `changes` from the job"
        )
    since = reading.since if reading.incremental else None
    return source.read_changed(READ_BATCH, since, job.changes.field)


def default_context(job: Job, run_id: str = "", now: datetime | None = None) -> MappingContext:
    """The context of a run or preview started here: this process's environment, and the
    run's approval time as %NOW% (so planning it again gives the same plan)."""
    return MappingContext(
        job_id=job.id,
        run_id=run_id,
        now=now or datetime.now(UTC),
        environment=dict(os.environ),
    )


def _wanted(key: str, mapping: ObjectMapping, keys: list[str]) -> bool:
    """Whether a record that failed mapping, known by its source key, is in the run's scope."""
    first = key.split(" / ")[0]
    return bool(only_keys([{mapping.keys[0]: first}], mapping, keys))


def only_keys(records: list[Record], mapping: ObjectMapping, keys: list[str]) -> list[Record]:
    """The records whose (first) key field holds one of `keys`."""
    field = mapping.keys[:1]
    wanted = {match_key({field[0]: key}, field, mapping.case_insensitive) for key in keys}
    return [r for r in records if match_key(r, field, mapping.case_insensitive) in wanted]
