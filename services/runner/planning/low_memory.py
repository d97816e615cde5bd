"""Planning large jobs in little memory: the destination read twice, never held whole.

Used when the destination can be read again cheaply (files and tables say so with
`rereadable = True`) and the job maps its fields: the first read keeps a digest per
key (engine/digests.py), the source is streamed against it and unchanged records are
dropped on the spot, and the second read takes only the destination records the exact
plan needs (updates, destination-only objects, duplicates) — skipped when there are none,
as in a re-run that finds nothing changed. Same plan, same hash.

An incremental run reads its changed records first: when they are few and their
objects can all be looked up, they are planned in memory with those objects alone
(scoped.py), the destination never read whole; otherwise they are planned here, as
they would have been, with the rest of the source.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncGenerator, AsyncIterator, Callable, Sequence
from contextlib import aclosing
from itertools import repeat
from operator import contains
from typing import cast

from core.engine import TypeRecords, managed_fields, plan
from core.engine.context import MappingContext
from core.engine.digests import DROPPED, KEPT, DigestIndex
from core.engine.failures import Held
from core.engine.keys import DuplicateKey, case_clash, display_key, in_two_cases, match_key
from core.engine.lifecycle import LEAVER_FIELD, Lifecycle
from core.engine.plan import Plan
from core.origins import traced_fields
from schemas.jobs import Job, ObjectMapping
from schemas.values import Record, TextRows, Value, records_from_columns
from services.common import tracing
from services.providers.base import Provider

from . import scoped
from .in_memory import plan_in_memory
from .reading import Learned, Reading
from .scoped import changed_objects, changes_looked_up
from .sides import READ_BATCH, Sides
from .source import (
    Planned,
    SourceMapper,
    mapper_of,
    planned_against,
    source_batches,
    source_rows,
)
from .spill import Spill, merged_counts, settle, spilled_record

LEAN_ABOVE = 250_000
"""Destination records above which planning keeps digests instead of records: reading the
destination twice costs more time than it saves memory on smaller ones."""
READ_TWICE = 50_000
"""Destination records a first run (or one nearly so) reads twice for nothing: with a
source larger than that, its creates go to disk (spill.py) rather than stay in memory."""


async def lean_enough(mapping: ObjectMapping, sides: Sides, keys: list[str] | None) -> bool:
    """Whether the lean planning applies: every field mapped (so what is compared is known
    before the source is read), the whole job, a destination cheap to read twice — and
    large (its `size_hint`, when it has one, above LEAN_ABOVE), or small (READ_TWICE)
    while the source is larger (a first run: its creates go to disk, spill.py), or empty
    while the source cannot say its size (a directory's first run, however large) and
    the job keeps no source values for the history (no field a transformation or a
    reference computes: the lean planner keeps none, docs/history.md, and a directory
    of a few entries would lose them, its plan's hash another than in memory)."""
    destination = sides.destination
    if not (mapping.fields and keys is None and getattr(destination, "rereadable", False)):
        return False
    size_hint = getattr(destination, "size_hint", None)
    if size_hint is None or (found := await size_hint()) > LEAN_ABOVE:
        return True
    source_hint = getattr(sides.source, "size_hint", None)
    if source_hint is None:  # a directory, a service: its size is known once it is read
        # A first run: its creates go to disk, however many there are.
        return int(found) == 0 and not traced_fields(mapping)
    return int(found) <= READ_TWICE and int(await source_hint()) > READ_TWICE


async def plan_low_memory(
    job: Job,
    sides: Sides,
    context: MappingContext,
    reading: Reading,
    learned: Learned,
) -> Planned:
    """The plan of a job of one large type (see `lean_enough`). An incremental run whose
    few changed records' objects can all be looked up is planned in memory with those
    alone, as `plan_in_memory` plans it (scoped.py); otherwise the records it read
    first are planned here with the rest."""
    mapping = job.objects[0]
    batches: AsyncIterator[list[Record] | TextRows]
    if changes_looked_up(job, mapping, sides.destination, reading):
        changes = source_batches(job, sides.source, reading, mapping.type, learned)
        head, rest = await peeked(changes, scoped.LOOKUP_AT_MOST)
        if rest is None and (planned := await changed(job, sides, head, context, reading, learned)):
            return planned
        batches = chained(head, rest)
    else:
        batches = source_rows(job, sides.source, reading, mapping.type, learned)
    mapper = mapper_of(job, 0, (sides.source, sides.destination), context)
    try:
        the_plan, read, found = await plan_lean(
            mapping,
            sides.destination,
            batches,
            mapper,
            # asked once the source is read: an incremental run may be a full one after all
            act_on_absence=lambda: (
                not reading.incremental or learned.full_because(job, reading) is not None
            ),
            lifecycle=reading.lifecycles.get(mapping.type),
        )
    except DuplicateKey as refused:
        try:
            as_read = await duplicate_as_read(job, sides, context, reading, refused)
        except Exception:  # read again at best: unreadable now, or a plugin's read once
            as_read = None  # the refusal as found
        raise as_read or refused from None
    sizes = [TypeRecords(mapping.type, read, found)]
    return Planned.of(the_plan, sizes, [*mapper.errors, *the_plan.refused], [mapper])


async def duplicate_as_read(
    job: Job, sides: Sides, context: MappingContext, reading: Reading, refused: DuplicateKey
) -> DuplicateKey | None:
    """The refusal of a key two source records share as planning in memory makes it —
    the first record whose key an earlier one has, both records named; else, `refused`
    being of a key a record mapped shares with one that failed, that record mapped
    named —, the source read again to find them: a file, a table, and a directory or a
    service too (a first run from one is planned here, however few its entries: its
    refusal names them as in memory, not by a skipped record's key alone). None where
    the source says it cannot be read again (`rereadable = False`: records pushed to
    it), where it no longer holds a key twice, or where `refused` names two records that
    failed (both kept as read). Planned here, too little of the records is kept to name
    them: a skipped record's key alone, the creates on disk in plan order, a dropped
    unchanged record's digest (spill.py, engine/digests.py)."""
    if getattr(sides.source, "rereadable", None) is False:
        return None
    mapping = job.objects[0]
    keys, case_insensitive = mapping.keys, mapping.case_insensitive

    async def mapped() -> AsyncGenerator[Record, None]:
        mapper = mapper_of(job, 0, (sides.source, sides.destination), context)
        batches = source_batches(job, sides.source, reading, mapping.type, Learned())
        async with aclosing(batches):  # the read ended as soon as the records are found
            async for batch in batches:
                for record in mapper.map(batch):
                    yield record

    seen: set[str] = set()  # keys alone: the records are found by reading once more
    twice: tuple[str, Record] | None = None
    async with aclosing(mapped()) as records:
        async for record in records:
            key = match_key(record, keys, case_insensitive)
            if key is None:
                continue
            if key in seen:
                twice = key, record
                break
            seen.add(key)
    seen.clear()

    async def first_with(key: str) -> Record | None:
        async with aclosing(mapped()) as records:
            async for record in records:
                if match_key(record, keys, case_insensitive) == key:
                    return record
        return None

    if twice is not None:
        first = await first_with(twice[0])
        return None if first is None else DuplicateKey(display_key(twice[1], keys), first, twice[1])
    if refused.first_failed is not None:  # two records that failed, named as read
        return None
    if refused.match is None or (first := await first_with(refused.match)) is None:
        return None
    shown = display_key(first, keys)
    return DuplicateKey(shown, first, refused.second, refused.failed, refused.match)


async def peeked(
    batches: AsyncIterator[list[Record]], at_most: int
) -> tuple[list[list[Record]], AsyncIterator[list[Record]] | None]:
    """The first batches, up to more than `at_most` records, and the rest (None: there
    were no more)."""
    head: list[list[Record]] = []
    count = 0
    async for batch in batches:
        head.append(batch)
        count += len(batch)
        if count > at_most:
            return head, batches
    return head, None


async def chained(
    head: list[list[Record]], rest: AsyncIterator[list[Record]] | None
) -> AsyncIterator[list[Record]]:
    for batch in head:
        yield batch
    if rest is not None:
        async for batch in rest:
            yield batch


async def changed(
    job: Job,
    sides: Sides,
    head: list[list[Record]],
    context: MappingContext,
    reading: Reading,
    learned: Learned,
) -> Planned | None:
    """The plan of an incremental run's changed records (every one read: `head`) with
    their objects looked up; None when they cannot all be."""
    mapping, target = job.objects[0], sides.destination
    mapper = mapper_of(job, 0, (sides.source, target), context, traced=True)
    mapped = [record for batch in head for record in mapper.map(batch)]
    found = await changed_objects(job, mapping, target, learned, mapped)
    if found is None:
        return None
    pair = (sides.source, target)
    given = ((mapper, mapped), found)
    return await plan_in_memory(job, [pair], None, context, reading, learned, given)


async def plan_lean(
    mapping: ObjectMapping,
    destination: Provider,
    source: AsyncIterator[list[Record] | TextRows],
    mapper: SourceMapper,
    *,
    act_on_absence: Callable[[], bool],
    lifecycle: Lifecycle | None,
) -> tuple[Plan, int, int]:
    """The plan, the source records read (of the job's scope) and the destination records
    read.
    `act_on_absence` is asked once the source has been read to the end."""
    managed = managed_fields(mapping, ())
    # Objects absent before, or deleted at the end of their lifecycle: back, their records
    # are planned by `plan()`, which says whose absences end (`Plan.returned`).
    returning = {*lifecycle.absent_since, *lifecycle.deleted} if lifecycle else ()
    index = DigestIndex(mapping, managed, returning)
    destination_count = 0
    digesting = tracing.reads(
        destination.read(READ_BATCH), side="destination", object_type=mapping.type
    )
    async for batch in digesting:
        destination_count += len(batch)
        for record in batch:
            index.add_destination(record)
    keys_fold: bool | None = getattr(destination, "keys_fold", None)
    if keys_fold and not mapping.case_insensitive:
        index.fold_keys()  # a create an object holds in another case: planned with it
    # Plain creates go to disk as they are planned (not with unique fields: each create
    # takes its free value in key order, among all of them).
    # Nor where the destination refuses some creates before they are sent (an LDAP
    # entry out of its query): each create is planned, and asked, by `plan()`.
    refuses = getattr(destination, "create_refusal", None)
    spill = None if index.taken.rules or refuses is not None else Spill(mapping, managed)
    kept: list[Record] = []
    source_count = 0
    if spill is not None:
        mapper.unmade = []  # a batch kept as it is, as its columns: planned from them
    async for read in source:
        source_count += len(read)
        mapped = mapper.map(read) if isinstance(read, list) else mapper.map_rows(read)
        if mapper.unmade:
            fields, columns = mapper.unmade.pop()
            if (
                spill is not None
                and (keys := _plain_column_keys(index, fields, columns)) is not None
            ):
                spill.add_columns(keys, fields, columns)  # all plain creates, no record made
                continue
            mapped = records_from_columns(fields, columns)
        if spill is not None and (keys := _plain_keys(index, mapped)) is not None:
            spill.add_all(keys, mapped)  # all plain creates: a first run's batch
            continue
        creates: list[Record] = []
        keys = []
        for record in mapped:
            if spill is not None and (key := _plain_create(index, record)) is not None:
                creates.append(record)  # planned together, below
                keys.append(key)
            elif index.keep_source(record):
                kept.append(record)
        if spill is not None and creates:
            spill.add_all(keys, creates)
    full = act_on_absence()
    absence = full and not mapper.blind
    if full:
        # A run of the whole source: leavers it cannot tell are not back, and fields made
        # from what no record read holds are not cleared everywhere.
        mapping = mapper.hold_fields(mapper.hold_restores(mapping))
        managed = tuple(name for name in managed if name not in mapper.fields_held)
    needed: list[Record] = []
    if index.any_needed(absent=absence):  # else nothing to read again (a no-change re-run)
        again = tracing.reads(
            destination.read(READ_BATCH), side="destination", object_type=mapping.type
        )
        async for batch in again:
            needed.extend(r for r in batch if index.destination_needed(r, absent=absence))
    # An object holding a value in a field held differs from its record: it is needed.
    # Only those a source record is planned against would have been cleared (as in memory).
    if mapper.fields_held:
        fold = mapping.case_insensitive or bool(keys_fold)
        mapper.weigh_held(planned_against(kept, needed, mapping.keys, fold))
    spilled = spill.records if spill is not None else 0
    held = Held(mapper.failures)
    if held:
        _refuse_held_twice(held, index, kept, spill)
    if keys_fold and not mapping.case_insensitive:
        _refuse_two_cases(mapping, held, index, kept, spill)
    other_case = None
    # Where keys compare with case (`keys_fold` False), an object absent in another case
    # is acted on as absent (plan()): no need to look for it.
    casing = keys_fold is not False and not mapping.case_insensitive
    if absence and casing and mapping.on_destination_only != "skip":
        other_case = await asyncio.to_thread(_other_cases, index, spill)
    the_plan = await asyncio.to_thread(
        plan,
        kept,
        needed,
        mapping,
        managed,
        act_on_absence=absence,
        lifecycle=lifecycle,
        failed=mapper.failures,
        keyed_elsewhere=index.unchanged + index.skipped + spilled,
        taken=index.taken,
        other_case=other_case,
        keys_fold=keys_fold,
        folds=getattr(destination, "value_folds", None),
        refuses=refuses,
    )
    the_plan.counts.unchanged += index.unchanged
    the_plan.counts.skipped += index.skipped
    if spill is not None and spilled:
        the_plan = await asyncio.to_thread(_with_spilled, the_plan, spill, mapping, index.created)
    # The records of the job's scope, as in memory: a source whose `where` left every
    # record out returned none (the safety check's empty source), not what it held.
    return the_plan, source_count - mapper.outside, destination_count


def _refuse_held_twice(
    held: Held, index: DigestIndex, kept: list[Record], spill: Spill | None
) -> None:
    """Refuse, as `plan()` does, the least key a record that failed shares with another:
    one mapped — planned in memory (`kept`), dropped unchanged or spilled —, named as
    far as it is kept (a dropped one by its key alone), or one that failed too."""
    mapped = {key for key in held if index.digests.get(key) in (DROPPED, KEPT)}
    mapped.update(filter(index.created.__contains__, held))
    if spill is not None and spill.records:
        mapped.update(filter(held.__contains__, spill.sorted_keys()))
    twice = held.twice(mapped)
    if twice is None:
        return
    keys, case_insensitive = index.keys, index.case_insensitive
    if twice not in mapped:  # two records that failed: both as read
        raise held.refusal(twice, None, keys)
    found = (r for r in kept if match_key(r, keys, case_insensitive) == twice)
    record = next(found, None)
    if record is None and spill is not None:
        record = spilled_record(spill, twice)
    if record is None:  # dropped, unchanged: its key alone is known
        known = held.first[twice].keys or {}
        record = {field: known[field] for field in keys}
    raise held.refusal(twice, record, keys)


def _refuse_two_cases(
    mapping: ObjectMapping,
    held: Held,
    index: DigestIndex,
    kept: list[Record],
    spill: Spill | None,
) -> None:
    """Refuse, as `plan()` does, the least two source records whose keys differ only in
    case — mapped (kept, dropped unchanged or spilled) or failed —, for a destination
    comparing keys without case: named as far as they are kept (a dropped one by its
    key alone)."""
    keys = mapping.keys
    in_memory = {match_key(r, keys, False): r for r in kept}
    mapped = [key for key, digest in index.digests.items() if digest in (DROPPED, KEPT)]
    mapped += index.created
    if spill is not None and spill.records:
        mapped += spill.sorted_keys()
    found = {key for key in in_memory if key is not None}.union(mapped, held)
    if (pair := case_clash(found, len(keys))) is None:
        return

    def record_of(key: str) -> Record | None:
        if (record := in_memory.get(key)) is not None:
            return record
        if key in held:
            return held.first[key].record
        return spilled_record(spill, key) if spill is not None else None

    raise in_two_cases(pair, keys, record_of)


def _other_cases(index: DigestIndex, spill: Spill | None) -> dict[str, str]:
    """`DigestIndex.other_cases`, the spilled creates' keys among the source's."""
    return index.other_cases(spill.sorted_keys() if spill is not None and spill.records else ())


def _plain_create(index: DigestIndex, record: Record) -> str | None:
    """The key of a source record that is a plain create (its key readable, not in the
    destination, not an object back after an absence, not a leaver); else None."""
    key = match_key(record, index.keys, index.case_insensitive)
    if key is None or key in index.digests or key in index.returning:
        return None
    if LEAVER_FIELD in record or index.held_in_other_case(key):
        return None
    return key


def _plain_keys(index: DigestIndex, records: list[Record]) -> list[str] | None:
    """The keys of the records when every one is a plain create (`_plain_create`), read
    at once where a key is one field compared with case and ASCII text; else None, for
    each to be looked at in turn."""
    if len(index.keys) != 1 or any(map(contains, records, repeat(LEAVER_FIELD))):
        return None
    return _plain_found(index, list(map(dict.get, records, repeat(index.keys[0]))))


def _plain_column_keys(
    index: DigestIndex, fields: tuple[str, ...], columns: list[list[Value]]
) -> list[str] | None:
    """`_plain_keys` of the records the columns make (`records_from_columns`)."""
    if len(index.keys) != 1 or index.keys[0] not in fields or LEAVER_FIELD in fields:
        return None
    return _plain_found(index, columns[fields.index(index.keys[0])])


def _plain_found(index: DigestIndex, found: Sequence[Value | None]) -> list[str] | None:
    """`_plain_keys` of the records' values of the key field (`found`)."""
    if index.case_insensitive or index.folds is not None:
        return None
    if set(map(type, found)) - {str} or not all(map(str.isascii, cast(list[str], found))):
        return None
    keys = list(map(str.strip, cast(list[str], found)))  # ASCII text: already in NFC
    if not all(keys):
        return None
    if index.digests and not index.digests.keys().isdisjoint(keys):
        return None
    if index.returning and any(map(index.returning.__contains__, keys)):
        return None
    return keys


def _with_spilled(
    the_plan: Plan, spill: Spill, mapping: ObjectMapping, new_in_memory: set[str]
) -> Plan:
    """The plan with the spilled creates merged in: the same plan `plan()` would give."""
    changes, plan_hash = settle(spill, the_plan.changes, mapping, new_in_memory)
    return Plan(
        changes=changes,
        counts=merged_counts(the_plan.counts, spill.counts),
        hash=plan_hash,
        warnings=[*the_plan.warnings, *spill.warnings()],
        leading=the_plan.leading,
        returned=the_plan.returned,
        absent=the_plan.absent,
        refused=the_plan.refused,
    )
