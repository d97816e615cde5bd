"""A re-run's table read whole only where it differs from the source.

A re-run of a job into a table of text (`ComparesRows`: PostgreSQL, MySQL) reads and maps the
source as always, while the table gives each row's key and its cells joined in one text
(by US, \\x1f). Each mapped record is put in the same text; a record whose row has the
same text is its object as a whole read would give it (the same fields, the same values,
a multi-valued one split back into the same items), so it is unchanged: the record and
its row are left out of planning, counted unchanged, and only the other rows are read
whole — in the same snapshot, in the table's order.

Taken only where the plan cannot tell: one object type, no references, the whole job
(not scoped to keys, not incremental), one key compared with case, updates on, no field
with a policy or unique, no container followed, no absence remembered (nothing coming
back); a table of text columns only, the same as the job's fields. And only where every
key is plain on both sides — ASCII text without spaces around it, each held once —:
otherwise every row is read whole, in the same snapshot, so every warning (a duplicate,
an empty key, a key spelled with spaces or in another Unicode form) is the one a whole
read gives. A record that does not hold every field as non-empty text (a multi-valued
one: non-empty items without the delimiter), or holds US in a value, is never taken for
its row's: that row is read whole. Nor is a record whose row's key another row holds in
another case: planned with its row, the plan leaves that other row alone (engine/plan.py).
"""

from __future__ import annotations

import asyncio
import re
from collections import Counter, deque
from collections.abc import AsyncIterator, Mapping, Sequence
from itertools import compress, repeat
from operator import eq, not_
from typing import cast

from core.engine import destination_multi_valued
from core.engine.containers import follows_container
from core.engine.context import MappingContext
from core.engine.failures import Failure
from schemas.jobs import Job, ObjectMapping
from schemas.values import Record, TextRows, records_from_columns
from services.common import tracing
from services.providers.base import ComparesRows, Provider

from .reading import Learned, Reading
from .scoped import gathered
from .sides import READ_BATCH, Pair, several
from .source import Columns, SourceMapper, mapper_of, source_rows
from .together import both

US = "\x1f"
"""What joins a row's cells in its text."""


def row_columns(
    job: Job, at: int, target: Provider, keys: list[str] | None, reading: Reading
) -> list[str] | None:
    """The table's columns, in the order the row's text joins them, where a re-run may
    leave equal rows unread (see above); else None."""
    mapping = job.objects[at]
    if keys is not None or reading.incremental or several(job) or not plain_job(mapping):
        return None
    lifecycle = reading.lifecycles.get(mapping.type)
    if lifecycle is not None and lifecycle.absent_since:
        return None
    if not isinstance(target, ComparesRows):
        return None
    names = target.row_columns(mapping.keys[0])
    if names is None or set(names) != {field.to for field in mapping.fields}:
        return None
    return names


def plain_job(mapping: ObjectMapping) -> bool:
    """Whether a record equal to its object is unchanged and plans nothing else: one key
    compared with case, updates on, no policy, no unique value, no container followed,
    no leavers."""
    return (
        len(mapping.keys) == 1
        and not mapping.case_insensitive
        and mapping.on_both == "update"
        and mapping.leavers is None
        and not follows_container(mapping)
        and all(f.policy == "force" and not f.unique for f in mapping.fields)
    )


async def read_unless_same(
    job: Job,
    at: int,
    pair: Pair,
    keys: list[str] | None,
    context: MappingContext,
    reading: Reading,
    learned: Learned,
) -> tuple[tuple[SourceMapper, list[Record]], list[Record], int] | None:
    """The `at`-th type's mapped source records and table rows, both without the records
    equal to their rows, and how many those are; None where this does not apply (the
    sides are then read as always)."""
    mapping, target = job.objects[at], pair[1]
    names = row_columns(job, at, target, keys, reading)
    if names is None or not isinstance(target, ComparesRows):
        return None
    mapper = mapper_of(job, at, pair, context, traced=True)
    mapper.unmade = []
    parts: list[list[Record] | Columns] = []
    source_read: asyncio.Future[None] = asyncio.get_running_loop().create_future()
    compared: tuple[list[Record], int] | None = None

    async def source_side() -> SourceMapper:
        async for batch in source_rows(job, pair[0], reading, mapping.type, learned):
            records = mapper.map_rows(batch) if isinstance(batch, TextRows) else mapper.map(batch)
            if mapper.unmade:
                parts.append(mapper.unmade.pop())
            if records:
                parts.append(records)
        mapper.unmade = None
        source_read.set_result(None)
        return mapper

    async def choose(row_keys: list[str | None], texts: list[str | None]) -> list[str] | None:
        nonlocal compared
        await source_read
        same = compare(mapping, names, parts, row_keys, texts)
        if same is None:
            return None
        kept, equal_keys, unequal = same
        if held_too(mapper.failures, equal_keys):
            return None  # a key a record equal to its row shares with one that failed
        compared = kept, len(equal_keys)
        parts.clear()
        return unequal

    async def destination_side() -> AsyncIterator[list[Record]]:
        yield await target.read_unless_same(mapping.keys[0], choose, READ_BATCH)

    traced = tracing.reads(destination_side(), side="destination", object_type=mapping.type)
    mapper, rows = await both(source_side(), gathered(traced))
    if compared is None:
        return (mapper, made(parts)), rows, 0
    return (mapper, compared[0]), rows, compared[1]


def held_too(failures: Sequence[Failure], equal_keys: Sequence[str]) -> bool:
    """Whether a record that failed holds the object of a key a record equal to its row
    has (in any case): the source holds that key twice, which the plan refuses naming both
    records (engine/failures.py) — left out as equal, that record would not be seen."""
    held = {failure.held.lower() for failure in failures if failure.held is not None}
    return bool(held) and not held.isdisjoint(map(str.lower, equal_keys))


def made(parts: Sequence[list[Record] | Columns]) -> list[Record]:
    """The records of the parts, in order."""
    records: list[Record] = []
    for part in parts:
        records += records_from_columns(*part) if isinstance(part, tuple) else part
    return records


def compare(
    mapping: ObjectMapping,
    names: Sequence[str],
    parts: Sequence[list[Record] | Columns],
    row_keys: list[str | None],
    texts: list[str | None],
) -> tuple[list[Record], list[str], list[str]] | None:
    """The mapped records (`parts`: records, or batches the mapper left as columns) but
    those whose row (by key) has the text the record would be stored as — each then the
    row as a whole read gives it —, those records' keys, and the keys of the other rows,
    to be read whole (in the table's order). A record with a field missing, empty or not
    text is not its row's. None where a key is not plain on either
    side (see above): every row is then read whole."""
    key = mapping.keys[0]
    multi = destination_multi_valued(mapping)
    if key in multi or not all(multi.values()):
        return None
    source_keys: list[object] = []
    made: list[object] = []
    for part in parts:
        if isinstance(part, tuple):  # kept as they are: non-empty texts, lists of such
            fields, columns = part
            if len(fields) != len(names) or set(fields) != set(names):
                return None
            texts_of = {
                name: list(map(multi[name].join, cast(list[list[str]], column)))
                if name in multi
                else cast(list[str], column)
                for name, column in zip(fields, columns, strict=True)
            }
            source_keys += texts_of[key]
            made += map(US.join, zip(*(texts_of[name] for name in names), strict=True))
        else:
            source_keys += map(dict.get, part, repeat(key))
            made += (row_text(record, names, multi) for record in part)
    keys = cast(list[str | None], source_keys)
    stored: dict[str | None, str | None] | None = None
    if keys == row_keys:  # the rows in the records' order (a table the job filled): by place
        if len(set(keys)) != len(keys) or not plain_keys(keys):
            return None  # a key held twice, or spelled so that it may be
        against = texts
    else:
        stored = dict(zip(row_keys, texts, strict=True))
        if len(stored) != len(row_keys) or not plain_keys(row_keys):
            return None
        if len(set(keys)) != len(keys) or not plain_keys(keys):
            return None
        against = list(map(stored.get, cast(list[str], keys)))
    separators = len(names) - 1  # more: a US in a value, its text could be another's
    if NEVER in made or set(map(str.count, cast(list[str], made), repeat(US))) - {separators}:
        made = [
            t if t is not NEVER and cast(str, t).count(US) == separators else NEVER for t in made
        ]
    same = list(map(eq, made, against))
    if twins := cased_twins(row_keys):  # planned with their records, not left out
        plain = cast(list[str], keys)
        same = [s and key.lower() not in twins for s, key in zip(same, plain, strict=True)]
    differ = list(map(not_, same))
    kept: list[Record] = []
    at = 0
    for part in parts:
        if isinstance(part, tuple):  # the few records that differ, made a field at a time
            count = len(part[1][0]) if part[1] else 0
            if rows := list(compress(range(count), differ[at : at + count])):
                columns = [list(map(column.__getitem__, rows)) for column in part[1]]
                kept += records_from_columns(part[0], columns)
        else:
            count = len(part)
            kept += compress(part, differ[at : at + count])
        at += count
    equal = cast(list[str], list(compress(keys, same)))
    if stored is None:  # by place: the rows of the records that differ
        return kept, equal, cast(list[str], list(compress(row_keys, differ)))
    deque(map(stored.pop, equal), maxlen=0)  # the rest, in the table's order
    return kept, equal, cast(list[str], list(stored))


def cased_twins(row_keys: Sequence[str | None]) -> set[str]:
    """The keys (lowercase) more than one row holds but for case (plain ASCII keys: their
    casefold is their lowercase): an equal record's row is planned with it, so that the
    plan knows the source holds the key its twin's object has in another case, and leaves
    that object alone (engine/plan.py), as a whole read does."""
    joined = "".join(cast(list[str], row_keys))
    if joined.upper() == joined or joined.lower() == joined:
        return set()  # no key with both cases' letters: lowering makes no two keys one
    lowered = list(map(str.lower, cast(list[str], row_keys)))
    if len(set(lowered)) == len(lowered):
        return set()
    return {key for key, count in Counter(lowered).items() if count > 1}


NEVER = object()
"""The text of a record that cannot be its row's: equal to none."""


def row_text(record: Record, names: Sequence[str], multi: Mapping[str, str]) -> object:
    """The text a record would be stored as, where it holds every field of `names` (and
    no other) as non-empty text, or a list of such texts without the delimiter; else
    NEVER."""
    if len(record) != len(names):
        return NEVER
    cells: list[str] = []
    for name in names:
        value = record.get(name)
        delimiter = multi.get(name)
        if isinstance(value, str) and delimiter is None:
            if not value:
                return NEVER
            cells.append(value)
        elif isinstance(value, list) and delimiter is not None and value:
            if not all(isinstance(item, str) and item and delimiter not in item for item in value):
                return NEVER
            cells.append(delimiter.join(value))
        else:
            return NEVER
    return US.join(cells)


SPACE = re.compile(r"\s")
"""A space of any kind (what `str.strip` strips)."""


def plain_keys(keys: Sequence[str | None]) -> bool:
    """Whether every key is ASCII text without spaces around it: the planner takes each
    as it is, and none is another's spelling."""
    try:
        joined = "".join(cast(Sequence[str], keys))  # text only (a subclass too)
    except TypeError:
        return False
    if not joined.isascii() or not all(keys):
        return False
    texts = cast(list[str], keys)
    return SPACE.search(joined) is None or list(map(str.strip, texts)) == texts
