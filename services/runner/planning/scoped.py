"""Runs scoped to some keys (`idsync job run --key`, a system's run request naming
keys): each side is asked for the records of those keys alone where it can look them up
(providers' `KeyReader`), instead of being read whole.

A lookup is only a shortcut to what a whole read keeps (`source.only_keys`), so it is
taken only where it cannot change the plan:
- the source is looked up by the field its first key is copied from, as it is (no
  transformation, no delimiter): a transformed key could come from any value;
- the job reads no watermark (a job with `changes` learns it from every record) and
  maps its fields (a job copying every field learns them from every record);
- the type's records name no other objects (`resolve`): a record out of the run's
  scope (a group) may name an object the run creates (a new member), which it is made
  to name, as a whole run would (core/engine/references.py `follow_renames`);
- keys compare with case (a lookup is exact where the side is);
- the destination is looked up only when nothing in the plan needs every object of the
  type: no references to resolve, no unique values to keep free, no leavers, and no
  moves — a container followed, an object moved back on its return (the safety limits
  weigh leavers' actions and moves against the destination's size).
And a key that a lookup does not find — a new object, a value stored in another
spelling ("042" in a number column) — makes that side read whole, as before; except in
a destination whose lookups miss nothing (`FindsEveryKey`: a SQLite table, the text key
column of a PostgreSQL or MySQL table), where a key not found is held by no object, and
the record is created with only the found objects read.

An incremental run (`--changed-only`) is scoped the same way, to the keys of the records
that changed: its source is read first, then only their objects are looked up in the
destination (`read_sides`), when the same rules allow it. A source that read every
record after all (its change feed lost), more than `LOOKUP_AT_MOST` changed records,
or one whose key is unusable, make the destination read whole, as a full run reads it
(in memory, or for a large one in little memory: low_memory.py).

A lookup finds what a whole read would take as the keys asked for: SQL tables (SQLite,
PostgreSQL, MySQL; a source or a destination) also find, in the same scan, the rows whose
key is spelled otherwise — spaces around it, another Unicode form, SQLite's 42 beside
'42' — and keep the records of the keys asked for as a run compares them
(providers/keyforms.py); so a key two objects hold in two spellings (" e2" and "e2") is
skipped as ambiguous both ways, and one two source records hold is refused both ways.
What a lookup cannot see, a run scoped so does not report: a destination's records with
no usable key, or two holding a key that no asked record has, are warned of only by a
whole read (tests/integration/test_changed_lookups_providers.py marks each such case;
LDAP's own matching rules, there too).
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterable, Callable

from core.engine import match_key
from core.engine.containers import follows_container
from core.engine.context import MappingContext
from core.engine.lifecycle import leaver_container, ways_out
from core.engine.references import reference_fields
from schemas.jobs import Job, ObjectMapping
from schemas.values import Record
from services.common import tracing
from services.providers.base import FindsEveryKey, KeyReader, Provider

from .reading import Learned, Reading
from .sides import READ_BATCH, Pair, has_references
from .source import SourceMapper, mapper_of, source_batches
from .together import both

LOOKUP_AT_MOST = 10_000
"""Changed records above which an incremental run reads its destination whole: looking
that many objects up costs about what reading them all does."""


def source_lookup(job: Job, mapping: ObjectMapping, source: Provider) -> str | None:
    """The source field to look the run's keys up by, or None to read the source whole."""
    if job.changes is not None or not mapping.fields or mapping.case_insensitive:
        return None
    if reference_fields(mapping):  # its records out of scope may name an object created
        return None
    return key_copied_from(mapping, source)


def key_copied_from(mapping: ObjectMapping, source: Provider) -> str | None:
    """The source field the type's first key is copied from as it is (no transformation,
    reference, delimiter nor unique value: else the key could come from any value; every
    field, where the job maps none), where the source looks records up by it; else None."""
    key = mapping.keys[0]
    if not mapping.fields:
        field = key  # every field copied as it is
    else:
        copied = next((f for f in mapping.fields if f.to == key), None)
        if copied is None or copied.transform is not None or copied.resolve is not None:
            return None
        if copied.delimiter is not None or copied.unique:
            return None
        field = copied.from_ or copied.to
    if not isinstance(source, KeyReader) or not source.reads_keys(field):
        return None
    return field


def destination_lookup(job: Job, mapping: ObjectMapping, target: Provider) -> str | None:
    """The destination field to look the run's keys up by, or None to read it whole."""
    if mapping.case_insensitive or has_references(job) or mapping.leavers is not None:
        return None
    if moves(mapping):
        return None
    if any(field.unique for field in mapping.fields):
        return None
    key = mapping.keys[0]
    if not isinstance(target, KeyReader) or not target.reads_keys(key):
        return None
    return key


def changes_looked_up(job: Job, mapping: ObjectMapping, target: Provider, reading: Reading) -> bool:
    """Whether an incremental run may look the changed records' objects up rather than
    read the destination whole."""
    return reading.incremental and destination_lookup(job, mapping, target) is not None


def moves(mapping: ObjectMapping) -> bool:
    """Whether the objects found may be moved: a container followed, an object moved back
    on its return — a move that the safety limits weigh against every object of the
    destination, so every object must be counted."""
    if follows_container(mapping):
        return True
    return mapping.restore and ("move" in ways_out(mapping) or bool(leaver_container(mapping)))


async def read_sides(
    job: Job,
    at: int,
    pair: Pair,
    keys: list[str] | None,
    context: MappingContext,
    reading: Reading,
    learned: Learned,
) -> tuple[tuple[SourceMapper, list[Record]], list[Record]]:
    """The `at`-th type's source records, mapped, with their mapper, and its destination
    records: both read at once; or, for an incremental run that can look objects up, the
    changed records first, then their objects alone (see above) — the destination read
    whole meanwhile as soon as more records changed than are worth looking up."""
    mapping, target = job.objects[at], pair[1]
    if keys is not None or not changes_looked_up(job, mapping, target, reading):
        return await both(
            read_source(job, at, pair, keys, context, reading, learned),
            read_destination(job, mapping, target, keys),
        )
    looking: asyncio.Future[list[Record] | None] = asyncio.get_running_loop().create_future()

    async def source_side() -> tuple[SourceMapper, list[Record]]:
        mapper = mapper_of(job, at, pair, context, traced=True)
        mapped: list[Record] = []
        async for batch in source_batches(job, pair[0], reading, mapping.type, learned):
            mapped += mapper.map(batch)
            if len(mapped) > LOOKUP_AT_MOST and not looking.done():
                looking.set_result(None)  # too many: the destination read whole, now
        if not looking.done():
            looking.set_result(mapped)
        return mapper, mapped

    async def destination_side() -> list[Record]:
        changed = await looking
        if changed is not None:
            found = await changed_objects(job, mapping, target, learned, changed)
            if found is not None:
                return found
        return await read_destination(job, mapping, target, None)

    return await both(source_side(), destination_side())


async def changed_objects(
    job: Job, mapping: ObjectMapping, target: Provider, learned: Learned, mapped: list[Record]
) -> list[Record] | None:
    """The objects of an incremental run's changed records (`mapped`), looked up; None
    when the destination is to be read whole (see above)."""
    if mapping.type in learned.fell_back:
        return None
    keys = changed_keys(mapping, mapped)
    return None if keys is None else await looked_up(job, mapping, target, keys)


def changed_keys(mapping: ObjectMapping, mapped: list[Record]) -> list[str] | None:
    """The keys to look the changed records' objects up by; None: read every object (too
    many records, or one whose key is unusable)."""
    if len(mapped) > LOOKUP_AT_MOST:
        return None
    key_of = scope_key(mapping)
    keys = [key_of(record) for record in mapped]
    if None in keys:
        return None
    return list(dict.fromkeys(key for key in keys if key is not None))


async def read_source(
    job: Job,
    at: int,
    pair: Pair,
    keys: list[str] | None,
    context: MappingContext,
    reading: Reading,
    learned: Learned,
) -> tuple[SourceMapper, list[Record]]:
    """The `at`-th type's source records, mapped, and their mapper: those of `keys` alone
    where the source can look them up and finds each one, cleanly mapped; else all."""
    mapping = job.objects[at]
    source, target = pair
    # A lookup finds keys in their case alone: where the destination compares them
    # without case, the scope holds every case of them (in_memory.py), read whole.
    folds = getattr(target, "keys_fold", None) is True
    field = source_lookup(job, mapping, source) if keys is not None and not folds else None
    if field is not None and isinstance(source, KeyReader):
        wanted = asked(mapping, keys or [])
        mapper = mapper_of(job, at, pair, context, traced=True)
        mapper.outside_keys = []
        batches = source.read_keys(field, wanted, READ_BATCH)
        mapped = [record async for batch in batches for record in mapper.map(batch)]
        key_of = scope_key(mapping)
        clean = not mapper.errors and not mapper.outside
        if clean and {key_of(record) for record in mapped} >= set(wanted):
            return mapper, mapped
    mapper = mapper_of(job, at, pair, context, traced=True)
    if keys is not None:  # which of them a `where` leaves out, for the run to say so
        mapper.outside_keys = []
    batches = source_batches(job, source, reading, mapping.type, learned)
    return mapper, await gathered(mapper.map(batch) async for batch in batches)


async def read_destination(
    job: Job, mapping: ObjectMapping, target: Provider, keys: list[str] | None
) -> list[Record]:
    """The type's destination records: those of `keys` alone where the destination can
    look them up and finds each one; else all."""
    if keys is not None and (found := await looked_up(job, mapping, target, keys)) is not None:
        return found
    whole = tracing.reads(target.read(READ_BATCH), side="destination", object_type=mapping.type)
    return await gathered(whole)


async def looked_up(
    job: Job, mapping: ObjectMapping, target: Provider, keys: list[str]
) -> list[Record] | None:
    """The destination records of `keys`, where the destination can look them up and
    finds each one; else None."""
    field = destination_lookup(job, mapping, target)
    if field is None or not isinstance(target, KeyReader):
        return None
    wanted = asked(mapping, keys)
    found = [
        record async for batch in target.read_keys(field, wanted, READ_BATCH) for record in batch
    ]
    if isinstance(target, FindsEveryKey) and target.finds_every_key(field):
        return found  # a key not found is held by no object: a new one
    key_of = scope_key(mapping)
    return found if {key_of(record) for record in found} >= set(wanted) else None


def scope_key(mapping: ObjectMapping) -> Callable[[Record], str | None]:
    """A record's first key, as a run scoped to keys compares it with the keys asked for."""
    field = mapping.keys[:1]
    return lambda record: match_key(record, field, mapping.case_insensitive)


def asked(mapping: ObjectMapping, keys: list[str]) -> list[str]:
    """The keys asked for, as a run compares them (unusable ones left out), each once."""
    compare = scope_key(mapping)
    found = (compare({mapping.keys[0]: key}) for key in keys)
    return list(dict.fromkeys(key for key in found if key is not None))


async def gathered(batches: AsyncIterable[list[Record]]) -> list[Record]:
    """Every batch's records in one list, in order: a batch at a time, not record by
    record (a hundred thousand steps of an async comprehension)."""
    records: list[Record] = []
    async for batch in batches:
        records += batch
    return records
