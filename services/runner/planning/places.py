"""Where a source holds the two records a refused plan found sharing a key: their lines
in a file, their rows in a sheet (`Places`), for the refusal to name them — the line
an administrator opens the file at, whichever way the plan was made (in memory, in
little memory, its creates spilled to disk: each keeps too little of a record to say).

The source is read again, each record mapped as planning maps it, until the two records
with the key are found; then the source says where it holds them. Only where that is
cheap (`rereadable`) and the source can tell (`Places`); otherwise, and when the source
changed since (the records no longer found), the refusal stays as it was.
"""

from __future__ import annotations

from collections.abc import AsyncGenerator, Sequence
from contextlib import aclosing

from core.engine.context import MappingContext
from core.engine.keys import DuplicateKey, match_key
from schemas.jobs import Job
from schemas.values import Record
from services.providers.base import Places, Provider

from .reading import Learned, Reading
from .source import mapper_of, source_batches


async def placed(
    job: Job,
    pairs: Sequence[tuple[Provider, Provider]],
    context: MappingContext,
    reading: Reading,
    refused: DuplicateKey,
) -> DuplicateKey | None:
    """`refused` naming where the source holds each of its two records; None where that
    cannot be told (a source that cannot say, records that failed: kept as read)."""
    if refused.places is not None or refused.failed is not None:
        return None
    for at, (mapping, pair) in enumerate(zip(job.objects, pairs, strict=True)):
        source = pair[0]
        if not isinstance(source, Places) or not getattr(source, "rereadable", False):
            continue
        keys, folds = mapping.keys, mapping.case_insensitive

        def mapped(at: int = at) -> AsyncGenerator[tuple[str, Record], None]:
            return _keyed(job, at, pairs[at], context, reading)

        wanted = [match_key(r, keys, folds) for r in (refused.first, refused.second)]
        if refused.cases:
            looked = {k for k in wanted if k is not None}
        elif wanted[0] is not None:
            looked = {wanted[0]}
        else:  # known by its key alone: the first key read twice
            looked = set()
            seen: set[str] = set()
            async with aclosing(mapped()) as records:
                async for key, _ in records:
                    if key in seen:
                        looked = {key}
                        break
                    seen.add(key)
            seen.clear()
        if not looked:
            continue
        found: list[tuple[str, Record]] = []
        needed = 2 if len(looked) == 1 else len(looked)
        async with aclosing(mapped()) as records:
            async for key, record in records:
                if key in looked and (len(looked) == 1 or key not in dict(found)):
                    found.append((key, record))
                    if len(found) == needed:
                        break
        if len(found) < 2:
            continue
        places = await source.places([record for _, record in found])
        if None in places:
            return None
        shown = [place for place in places if place is not None]
        if refused.cases:  # each record's place by its key
            of = dict(zip((key for key, _ in found), shown, strict=True))
            first, second = (of.get(k or "") for k in wanted)
            if first is None or second is None:
                return None
            return refused.placed((first, second), keys)
        return refused.placed((shown[0], shown[1]), keys)
    return None


async def _keyed(
    job: Job,
    at: int,
    pair: tuple[Provider, Provider],
    context: MappingContext,
    reading: Reading,
) -> AsyncGenerator[tuple[str, Record], None]:
    """(match key, source record) of each record of the `at`-th type, in the order read,
    each mapped as planning maps it."""
    mapping = job.objects[at]
    keys, folds = mapping.keys, mapping.case_insensitive
    mapper = mapper_of(job, at, pair, context)
    batches = source_batches(job, pair[0], reading, mapping.type, Learned())
    async with aclosing(batches):
        async for batch in batches:
            for record in batch:
                for each in mapper.map([record]):
                    if (key := match_key(each, keys, folds)) is not None:
                        yield key, record
