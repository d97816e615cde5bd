"""Reading both sides of a job and computing its whole plan: used by runs and previews."""

from __future__ import annotations

import asyncio
import hashlib
import os
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime

import msgspec
import structlog

from schemas.connections import Connection
from schemas.events import Trigger
from schemas.jobs import Job, ObjectMapping
from schemas.plan import RecordError
from schemas.values import Record
from services.common.errors import BadInput
from services.common.object_checks import endpoint_of
from services.common.store import Store
from services.common.watermarks import Memory
from services.runner.engine import managed_fields, match_key
from services.runner.engine.context import MappingContext
from services.runner.engine.mapping import compile_mapping
from services.runner.engine.objects import ObjectType, plan_objects
from services.runner.engine.plan import Plan
from services.runner.engine.planned_state import Identify
from services.runner.providers.base import ChangeReader, Provider

from .incremental import Reading, job_watermark, reading
from .lean import lean_enough, plan_lean
from .object_types import Pair, open_pair, other_sides, several
from .source_records import SourceMapper, check_source_fields

READ_BATCH = 5_000

log = structlog.get_logger("idsync.runner")


@dataclass(frozen=True)
class Sides:
    source: Provider
    destination: Provider
    others: list[Pair] = field(default_factory=list)
    """The sides of the job's other object types (object_types.py), in order."""
    connections: tuple[Connection, ...] = ()
    """The definitions of both connections, as the plan was made with them."""


@dataclass(frozen=True)
class PlannedRun:
    plan: Plan
    source_records: int
    destination_records: int
    record_errors: list[RecordError] = field(default_factory=list)
    """Source records that could not be mapped or resolved: not planned, counted as
    failed (or skipped, by a script), their objects left as they are."""
    incremental: bool = False
    """Only changed source records were read; nothing was done about absence."""
    watermark: str | None = None
    """Where the next incremental run reads from, once this one has finished."""
    since: str | None = None
    """Where an incremental run read from."""


@dataclass(frozen=True)
class Asked:
    """How a run was asked for: what, besides the data, its plan depends on."""

    keys: list[str] | None = None
    changed_only: bool = False
    trigger: Trigger = "manual"
    at: datetime = field(default_factory=lambda: datetime.now(UTC))
    """The run's clock: its approval time (%NOW%, the lifecycle's days)."""
    run_id: str = ""


async def plan_run(store: Store, memory: Memory, job: Job, asked: Asked) -> PlannedRun:
    """The plan of a run asked for so: what runs apply and previews show, from the same
    inputs (the job's watermark and absences included), so both give the same hash."""
    found = await reading(memory, job, asked.changed_only, asked.trigger, asked.at)
    async with open_sides(store, job) as sides:
        context = default_context(job, asked.run_id, asked.at)
        return await plan_job(job, sides, asked.keys, context, found)


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
            connections = (source_connection, destination_connection)
            yield Sides(source, destination, others, connections)
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

    One way for every shape of job: each object type's source is checked against the
    fields it names, read (only what changed, for an incremental run), mapped, and
    planned with its lifecycle and its failed records held; the types are planned
    together (references resolved across them), or, for one large type, in little
    memory (lean.py) — the same plan either way. A run scoped to some keys sees only
    those objects and, like an incremental run, never acts on absence. `context` fills
    the transformations' variables (%RUN_ID%, %NOW%, %ENV:…%). The plan's hash covers
    the connections' definitions too: an approval never applies to a changed connection.
    """
    reading = reading or Reading()
    context = context or default_context(job)
    pairs = [(sides.source, sides.destination), *sides.others]
    for at, (mapping, (source, _)) in enumerate(zip(job.objects, pairs, strict=True)):
        where = endpoint_of(job.source, mapping.source).where
        check_source_fields(mapping, source, f"$.objects[{at}]", where)
    absence = keys is None and not reading.incremental
    marks: dict[str, str | None] = {}
    mappers: list[SourceMapper] = []
    if not several(job) and await lean_enough(job.objects[0], sides.destination, keys):
        mapping = job.objects[0]  # a million records in little memory
        mapper = _mapper(job, 0, sides.destination, context)
        the_plan, read, found = await plan_lean(
            mapping,
            sides.destination,
            _source_batches(job, sides.source, reading, mapping.type, marks),
            mapper,
            act_on_absence=absence and not mapper.keyless_failures,
            lifecycle=reading.lifecycles.get(mapping.type),
        )
        mappers.append(mapper)
        errors = list(mapper.errors)
    else:
        types: list[ObjectType] = []
        read = found = 0
        for at, (mapping, (source, target)) in enumerate(zip(job.objects, pairs, strict=True)):
            mapper = _mapper(job, at, target, context)
            batches = _source_batches(job, source, reading, mapping.type, marks)
            mapped = [record async for batch in batches for record in mapper.map(batch)]
            everything = [record async for batch in target.read(READ_BATCH) for record in batch]
            read += len(mapped) + len(mapper.errors)
            found += len(everything)
            scoped = everything
            if keys is not None:
                mapped = only_keys(mapped, mapping, keys)
                scoped = only_keys(everything, mapping, keys)
                mapper.errors = [e for e in mapper.errors if _wanted(e.key, mapping, keys)]
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
        the_plan, unresolved = await asyncio.to_thread(
            lambda: plan_objects(types, act_on_absence=absence)
        )
        errors = [error for mapper in mappers for error in mapper.errors] + unresolved
    warnings = [w for mapper in mappers if (w := mapper.blind_warning())]
    for warning in [*warnings, *the_plan.warnings]:
        log.warning("plan", note=warning)
    the_plan = msgspec.structs.replace(
        the_plan,
        hash=covering(the_plan.hash, sides.connections),
        warnings=warnings + the_plan.warnings,
    )
    return PlannedRun(
        the_plan,
        read,
        found,
        errors,
        incremental=reading.incremental,
        watermark=job_watermark(job, marks) if job.changes is not None else None,
        since=reading.since if reading.incremental else None,
    )


def _mapper(job: Job, at: int, target: Provider, context: MappingContext) -> SourceMapper:
    mapping = job.objects[at]
    compiled = compile_mapping(mapping, context, f"$.objects[{at}]")
    where = endpoint_of(job.source, mapping.source).where
    return SourceMapper(compiled, target.canonical, mapping, where)


def covering(plan_hash: str, connections: Sequence[Connection]) -> str:
    """The plan's hash, covering the connections it was made with (no secrets are in
    them: secret references only), so a plan approved for one destination is never
    applied to another."""
    if not connections:
        return plan_hash
    digest = hashlib.sha256(plan_hash.encode())
    digest.update(_definitions.encode(list(connections)))
    return digest.hexdigest()


_definitions = msgspec.msgpack.Encoder(order="deterministic")


async def _source_batches(
    job: Job, source: Provider, reading: Reading, kind: str, marks: dict[str, str | None]
) -> AsyncIterator[list[Record]]:
    """The source's records: only the changed ones for an incremental run. A full run of
    a job with `changes` reads them through the change reader too, to learn the watermark
    (put in `marks` under the object type once every record is read)."""
    if job.changes is None:
        async for batch in source.read(READ_BATCH):
            yield batch
        return
    if not isinstance(source, ChangeReader):
        raise BadInput(
            f"job {job.id}: the source {job.source.connection} cannot read only changed "
            "records; remove `changes` from the job"
        )
    since = reading.since_for(job, kind) if reading.incremental else None
    async for batch in source.read_changed(READ_BATCH, since, job.changes.field):
        yield batch
    marks[kind] = source.watermark()


def default_context(job: Job, run_id: str = "", now: datetime | None = None) -> MappingContext:
    """The context of a run or preview started here: this process's environment, and the
    run's approval time as %NOW% (so planning it again gives the same plan)."""
    return MappingContext(
        job_id=job.id,
        run_id=run_id,
        now=now or datetime.now(UTC),
        # Not a setting: the values a job's %ENV:NAME% reads, whatever their names.
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
