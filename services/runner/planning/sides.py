"""The providers of a job's sides, one pair per object type.

Each [[objects]] entry reads its own records: the job's endpoints with the entry's own
`source` and `destination` scope put over them (a file, a filter, object classes). All
types are planned together (engine/objects.py) so that references resolve against the
planned state of every type, and a batch is applied by a provider opened for each type
it holds (`apply_by_type`), or staged where the destination writes a run's batches
together when the run ends (`finish_by_type`).
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from contextlib import AsyncExitStack, asynccontextmanager
from dataclasses import dataclass, field
from operator import attrgetter
from typing import Any

import msgspec

from core.checks.objects import endpoint_of
from core.engine import (
    source_multi_valued,
)
from core.engine.conditions import fields_tested
from core.engine.source_fields import fields_read, reads_every_field
from schemas.connections import Connection
from schemas.jobs import Job, ObjectMapping
from schemas.plan import Change
from schemas.work import Changes, Creates
from services.common import tracing
from services.common.store import Store
from services.providers import open_provider
from services.providers.base import AppliesColumns, Layout, Outcome, Provider, Staging
from services.providers.layouts import destination_layout

READ_BATCH = 5_000
"""Records asked of a provider at a time, on either side."""
Pair = tuple[Provider, Provider]


@dataclass(frozen=True)
class Sides:
    source: Provider
    destination: Provider
    others: list[Pair] = field(default_factory=list)
    """The sides of the job's other object types, in order."""
    connections: tuple[Connection, ...] = ()
    """The definitions of both connections, as the plan was made with them."""


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


def has_references(job: Job) -> bool:
    return any(f.resolve is not None for obj in job.objects for f in obj.fields)


def several(job: Job) -> bool:
    """Whether the job needs planning over object types (several, or references)."""
    return len(job.objects) > 1 or has_references(job)


def source_layout(mapping: ObjectMapping, where: dict[str, Any] | None = None) -> Layout:
    """What a source's provider is told: multi-valued fields, the fields the job reads
    (none: it copies every field), and whether it may read others all the same (a script
    is given the whole record)."""
    reads: dict[str, None] = {}
    if mapping.fields:
        reads = dict.fromkeys(
            [*fields_read(mapping, "$"), *(fields_tested(where) if where else [])]
        )
    return Layout(
        multi_valued=source_multi_valued(mapping),
        reads=tuple(reads),
        every_field=reads_every_field(mapping),
    )


def open_pair(source_conn: Connection, target_conn: Connection, job: Job, at: int) -> Pair:
    mapping = job.objects[at]
    endpoint = endpoint_of(job.source, mapping.source)
    source = open_provider(source_conn, endpoint, source_layout(mapping, endpoint.where))
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


async def apply_by_type(job: Job, connection: Connection, changes: Changes) -> list[Outcome]:
    """Apply a batch whose changes may be of several types: each type by a provider opened
    with that type's scope and fields; the outcomes in the batch's order. Plain creates as
    columns (`Creates`) are of one type: they go as they are to a provider that applies
    columns (`AppliesColumns`), as changes to any other."""
    if isinstance(changes, Creates):
        applied = await _apply_type(job, connection, changes.object_type, changes)
        if len(applied) != len(changes):
            raise ValueError(f"{len(applied)} outcomes of {len(changes)} changes")
        return applied
    kinds = list(dict.fromkeys(map(_object_type, changes)))
    if len(kinds) == 1:  # the usual batch, of one type: its changes as they are
        applied = await _apply_type(job, connection, kinds[0], changes)
        if len(applied) != len(changes):
            raise ValueError(f"{len(applied)} outcomes of {len(changes)} changes")
        return applied
    outcomes: list[Outcome | None] = [None] * len(changes)
    for kind in kinds:
        at = [i for i, c in enumerate(changes) if c.object_type == kind]
        applied = await _apply_type(job, connection, kind, [changes[i] for i in at])
        for i, outcome in zip(at, applied, strict=True):
            outcomes[i] = outcome
    return [outcome or Outcome(error="not applied") for outcome in outcomes]


_object_type = attrgetter("object_type")


async def _apply_type(job: Job, connection: Connection, kind: str, mine: Changes) -> list[Outcome]:
    """The changes of one object type applied (or staged) by a provider opened for it."""
    mapping = {obj.type: obj for obj in job.objects}.get(kind, job.objects[0])
    target = open_provider(
        connection,
        endpoint_of(job.destination, mapping.destination),
        destination_layout(mapping),
    )
    try:
        with tracing.span(
            "provider apply",
            provider=str(connection.__struct_config__.tag),
            object_type=kind,
            changes=len(mine),
        ):
            await target.open(write=True)
            if isinstance(mine, Creates):
                if isinstance(target, AppliesColumns) and not isinstance(target, Staging):
                    return await target.apply_columns(mine)  # creates: none respelled
                mine = mine.changes
            if isinstance(target, Staging):  # written when the run ends
                return await target.stage(mine)
            return await _found_respelled(target, mapping.keys, mine, await target.apply(mine))
    finally:
        await target.close()


def respelled(change: Change, keys: Sequence[str]) -> Change | None:
    """An update that gives its object another spelling of its key (keys compared without
    case, or spaces around them: "e2" becomes "E2"), as it finds the object once applied;
    None for any other change."""
    if change.action != "update" or not any(
        key in change.set and change.set[key] != change.match.get(key) for key in keys
    ):
        return None
    match = {key: change.set.get(key, value) for key, value in change.match.items()}
    return msgspec.structs.replace(change, match=match)


async def _found_respelled(
    target: Provider, keys: Sequence[str], changes: list[Change], outcomes: list[Outcome]
) -> list[Outcome]:
    """A batch delivered again after a first delivery applied it (its runner died before
    recording it): an update that respelled its object's key finds no object under the
    old spelling. It is applied again under the new one — the object there gets the same
    values, nothing twice — so the record counts as the first delivery made it, updated,
    not failed."""
    again = [
        (i, moved)
        for i, (change, outcome) in enumerate(zip(changes, outcomes, strict=True))
        if outcome.missing and (moved := respelled(change, keys)) is not None
    ]
    if not again:
        return outcomes
    second = await target.apply([moved for _, moved in again])
    found = list(outcomes)
    for (i, _), outcome in zip(again, second, strict=True):
        if outcome.error is None:
            found[i] = outcome
    return found


async def finish_by_type(job: Job, connection: Connection) -> None:
    """The run has ended: destinations that staged its batches (`Staging`: a workbook)
    write them now, each type's endpoint once."""
    done: set[bytes] = set()
    for mapping in job.objects:
        endpoint = endpoint_of(job.destination, mapping.destination)
        target = open_provider(connection, endpoint, destination_layout(mapping))
        if not isinstance(target, Staging) or (seen := msgspec.json.encode(endpoint)) in done:
            continue
        done.add(seen)
        try:
            await target.finish()
        finally:
            await target.close()
