"""Planning large jobs in little memory: the destination read twice, never held whole.

Used when the destination can be read again cheaply (files and tables say so with
`rereadable = True`) and the job maps its fields: the first read keeps a digest per
key (engine/digests.py), the source is streamed against it and unchanged records are
dropped on the spot, and the second read takes only the destination records the exact
plan needs (updates, destination-only objects, duplicates). Same plan, same hash.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable

from schemas.jobs import ObjectMapping
from schemas.plan import RecordError
from schemas.values import Record
from services.runner.engine import managed_fields, plan, with_container
from services.runner.engine.digests import DigestIndex
from services.runner.engine.lifecycle import Lifecycle
from services.runner.engine.mapping import CompiledMapping
from services.runner.engine.plan import Plan
from services.runner.engine.scripts import RecordSkipped
from services.runner.engine.transforms import RecordFailed
from services.runner.providers.base import Provider

READ_BATCH = 5_000


class SourceMapper:
    """Maps source records as they stream in; a record a transformation cannot handle
    becomes a record error and the others go on."""

    def __init__(
        self,
        compiled: CompiledMapping,
        canonical: Callable[[Record], Record],
        mapping: ObjectMapping,
    ) -> None:
        self.compiled, self.canonical, self.mapping = compiled, canonical, mapping
        self.errors: list[RecordError] = []
        self.fields: dict[str, None] = {}
        """Every source field seen, in first-seen order (a job copying every field)."""

    def map(self, batch: list[Record]) -> list[Record]:
        mapped: list[Record] = []
        compiled, canonical, mapping = self.compiled, self.canonical, self.mapping
        for record in batch:
            self.fields.update(dict.fromkeys(record))
            try:
                shaped = canonical(compiled.map(record))
            except RecordFailed as error:  # that record fails (or a script skips it)
                action = "skip" if isinstance(error, RecordSkipped) else "map"
                key = compiled.key_of(record)
                self.errors.append(RecordError(key=key, action=action, message=str(error)))
                continue
            # The container of a new object may come from a source field that is not
            # mapped: it travels with the mapped record under a reserved name.
            mapped.append(with_container(shaped, record, mapping))
        return mapped


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
    index = DigestIndex(mapping, managed)
    destination_count = 0
    async for batch in destination.read(READ_BATCH):
        destination_count += len(batch)
        for record in batch:
            index.add_destination(record)
    kept: list[Record] = []
    source_count = 0
    async for batch in source:
        source_count += len(batch)
        kept.extend(record for record in mapper.map(batch) if index.keep_source(record))
    needed: list[Record] = []
    async for batch in destination.read(READ_BATCH):
        needed.extend(r for r in batch if index.destination_needed(r, absent=act_on_absence))
    the_plan = await asyncio.to_thread(
        plan,
        kept,
        needed,
        mapping,
        managed,
        act_on_absence=act_on_absence,
        lifecycle=lifecycle,
        taken=index.taken,
    )
    the_plan.counts.unchanged += index.unchanged
    return the_plan, source_count, destination_count
