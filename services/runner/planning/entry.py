"""The one way into planning: what a run (or a preview) plans, from which inputs."""

from __future__ import annotations

import hashlib
import os
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime

import msgspec
import structlog

from core.checks.objects import endpoint_of
from core.engine import TypeRecords, assess_types
from core.engine.context import MappingContext
from core.engine.keys import DuplicateKey
from core.engine.plan import Plan
from core.errors import IdsyncError
from core.run_texts import grouped_warnings
from schemas.connections import Connection
from schemas.events import Trigger
from schemas.jobs import Job
from schemas.plan import RecordError
from services.common.collector import collector_paused
from services.common.store import Store
from services.common.watermarks import Memory

from .absence import confirm_absence
from .in_memory import plan_in_memory
from .low_memory import lean_enough, plan_low_memory
from .places import placed
from .reading import Learned, Reading, job_watermark, reading
from .sides import Sides, open_sides, several
from .source import Planned, check_source_fields

log = structlog.get_logger("idsync.runner")


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
    full_because: str | None = None
    """Asked for incremental, a full run after all: why its source read every record
    (its change feed could not be used); absence was acted on as in any full run."""
    watermark: str | None = None
    """Where the next incremental run reads from, once this one has finished."""
    since: str | None = None
    """Where an incremental run read from."""
    types: list[TypeRecords] = field(default_factory=list)
    """Each object type's records read on each side (the safety limits judge each type
    alone)."""

    def over_limits(self, job: Job, keys: list[str] | None) -> str | None:
        """Why a run of this plan waits for approval under the job's safety limits, or
        None (`keys`: the run is scoped to them, and judged on what it acts on alone)."""
        # An incremental run that finds nothing changed is no empty source.
        full_scope = keys is None and not self.incremental
        return assess_types(self.plan, self.types, job.safety, full_scope=full_scope)


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


async def plan_job(
    job: Job,
    sides: Sides,
    keys: list[str] | None = None,
    context: MappingContext | None = None,
    reading: Reading | None = None,
) -> PlannedRun:
    """Read every record of both sides and compute the plan (nothing is written).

    One way for every shape of job: each object type's source is checked against the
    fields it names, read (only what changed, for an incremental run), filtered, mapped
    and planned with its lifecycle and its failed records held — in memory, or for one
    large type in little memory (low_memory.py), the same plan either way. A run scoped
    to some keys sees only those objects and, like an incremental run, never acts on
    absence; a full run's absences are confirmed first where a source's read may miss a
    record (absence.py). `context` fills the transformations' variables (%RUN_ID%, %NOW%, %ENV:…%).
    The plan's hash covers the connections' definitions too: an approval never applies
    to a changed connection.
    """
    reading = reading or Reading()
    context = context or default_context(job)
    pairs = [(sides.source, sides.destination), *sides.others]
    for at, (mapping, (source, _)) in enumerate(zip(job.objects, pairs, strict=True)):
        where = endpoint_of(job.source, mapping.source).where
        check_source_fields(mapping, source, f"$.objects[{at}]", where)
    learned = Learned()
    try:
        with collector_paused():  # records by the hundred thousand, none in a cycle
            if not several(job) and await lean_enough(job.objects[0], sides, keys):
                planned = await plan_low_memory(job, sides, context, reading, learned)
            else:
                planned = await plan_in_memory(job, pairs, keys, context, reading, learned)
    except DuplicateKey as refused:  # named where the source holds both records
        try:
            found = await placed(job, pairs, context, reading, refused)
        except IdsyncError:
            found = None  # the source unreadable now: the refusal as found
        raise found or refused from None
    if keys is None and planned.plan.absent:  # acted on: confirmed where a read may miss
        await confirm_absence(job, pairs, planned.plan, context)
    why = learned.full_because(job, reading)
    full_because = why if keys is None else None  # a run scoped to keys sees no absence
    incremental = reading.incremental and full_because is None
    if learned.warnings:  # after those about a whole type (objects left alone)
        told, lead = planned.plan.warnings, planned.plan.leading
        warned = msgspec.structs.replace(
            planned.plan, warnings=[*told[:lead], *learned.warnings, *told[lead:]]
        )
        planned = Planned(warned, planned.types, planned.errors)
    if (note := fell_back_note(job, learned, reading, why, keys)) is not None:
        warned = msgspec.structs.replace(planned.plan, warnings=[note, *planned.plan.warnings])
        planned = Planned(warned, planned.types, planned.errors)
    # Each kind once (a renamed field makes every record one), and at the level of the
    # runner's story: `job preview` prints them to its user.
    for warning in grouped_warnings(planned.plan.warnings):
        log.info("plan warning", note=warning)
    the_plan = msgspec.structs.replace(
        planned.plan, hash=covering(planned.plan.hash, sides.connections)
    )
    return PlannedRun(
        the_plan,
        planned.read,
        planned.found,
        planned.errors,
        types=planned.types,
        incremental=incremental,
        full_because=full_because,
        watermark=job_watermark(job, learned.marks) if job.changes is not None else None,
        since=reading.since if incremental else None,
    )


def fell_back_note(
    job: Job, learned: Learned, reading: Reading, why: str | None, keys: list[str] | None
) -> str | None:
    """The plan's first warning when a source read every record of an incremental run (the
    warnings are not in the plan's hash: a preview says it too, with the same hash)."""
    if not reading.incremental or not learned.fell_back:
        return None
    if why is not None and keys is None:
        return (
            f"full run: {why}: every record was read, and objects missing from the source "
            "are acted on as in any full run"
        )
    if why is not None:
        return f"{why}: every record was read (a run scoped to some keys leaves absence alone)"
    read_all = ", ".join(f"{kind} ({text})" for kind, text in learned.fell_back.items())
    others = ", ".join(m.type for m in job.objects if m.type not in learned.fell_back)
    return (
        f"every record of {read_all} was read, but only the changes of {others}: the run "
        "stays incremental and leaves absence alone"
    )


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
