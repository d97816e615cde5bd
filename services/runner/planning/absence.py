"""Absence confirmed: a full run acts on absence — deletes, disables, moves an object
whose record the source does not hold — only once the source says, asked again, that it
holds none of them.

A source whose whole read may skip a record present throughout it (a provider's
`MissesRecords`: SCIM, read by offset — a resource deleted behind the read while
another is added keeps the total, yet the next page starts one past where it should)
would otherwise have that record's object taken away. So, once a full run's plan is
made (a run scoped to keys or incremental never acts on absence), each type whose
source says so looks up the objects the plan acts on for absence (`Plan.absent`):

- by the source field the type's first key is copied from, as it is (no
  transformation, reference, delimiter nor unique value: else the key could come from
  any value), where the source looks records up by it (`KeyReader`), for at most
  `LOOKUP_AT_MOST` objects (more cost about what reading them all does) — and only where
  a lookup finds every record holding the object: the destination keeps the key as
  written (not `respelled`: a number column holds the source's "005" as 5, which a
  lookup of 5 does not find), and where a key in another case holds the object (the job
  compares keys without case, or the destination may), the source compares that field's
  values without case too (`value_folds`: SCIM's userName, not its externalId);
- a source that looks records up by texts their value holds (`HoldingReader`: SCIM's
  `co`) is asked for the texts every spelling the run takes for the key holds
  (core.engine.keys.`key_parts`: the key without the spaces around it, in NFC, folded
  where keys compare without case, less the ASCII characters another character may stand
  for — "ß" folds to "ss", the Kelvin sign is K in NFC). An exact lookup (`eq`) finds a
  key as it is spelled alone: it does not find a user the service spells "u4 " while the
  destination holds "u4", nor "straße4" for a "STRASSE4" compared without case, whose
  object would be deleted. A lookup by texts finds them, and maybe other records, which
  the comparison below sets aside: "u4" finds "u40" too; "STRASSE4" is looked up by "ra"
  and "e4" (`co "ra" and co "e4"`), so a key made mostly of such characters costs a
  search that finds many records. A text of one character, which finds about every
  record, is not searched for (`searched`); a key with no text of two characters or more
  that every spelling holds ("ß", "sk1" without case, "é") has the source read whole. A
  source that looks values up only as spelled (`KeyReader` alone) is asked for each key
  as the destination holds it and as the run compares it (`spellings`);
- else — or where the source refuses the lookup (`BadInput`: a service that cannot
  search by that attribute, or by `co`) — by reading the source whole once more (a
  record skipped by both reads is still taken for absent).

The records found are mapped as the run maps them (the source's `where` keeps a record
out of scope; a leaver is one the source holds): one holding a key of those objects — in
another case too, where the destination may compare keys without case, as the planner
then leaves the object alone —, or failing with it, fails the run with `Transient`: it
is planned again later, as after any read that failed, and nothing is written. None
found, the plan stands as it was made: the same changes, the same hash.
"""

from __future__ import annotations

import unicodedata
from collections.abc import AsyncIterator, Sequence

import structlog

from core.engine import match_key
from core.engine.context import MappingContext
from core.engine.keys import display_key, folded_key, key_parts
from core.engine.plan import Plan
from core.errors import BadInput, Transient
from schemas.jobs import Job, ObjectMapping
from schemas.values import Record
from services.common import tracing
from services.providers.base import HoldingReader, KeyReader, MissesRecords, Provider

from .scoped import LOOKUP_AT_MOST, key_copied_from
from .sides import READ_BATCH, Pair
from .source import mapper_of

log = structlog.get_logger("idsync.runner")


async def confirm_absence(
    job: Job, pairs: Sequence[Pair], the_plan: Plan, context: MappingContext
) -> None:
    """Raise `Transient` when a source that may miss records holds, asked again, one of
    the objects `the_plan` acts on for absence (see above); else return, the plan as it is."""
    taken = 0
    held: list[tuple[str, str]] = []  # (object type, key as shown)
    for at, (mapping, pair) in enumerate(zip(job.objects, pairs, strict=True)):
        absent = the_plan.absent.get(mapping.type)
        source = pair[0]
        if not absent or not isinstance(source, MissesRecords) or not source.misses_records():
            continue
        taken += len(absent)
        found = await held_after_all(job, at, pair, context, absent)
        held += [(mapping.type, key) for key in found]
    if not held:
        return
    kind, first = held[0]
    several = len({kind for kind, _ in held}) > 1 or len(job.objects) > 1
    objects = "objects" if several else f"{kind} objects"
    named = f"the {kind} {first!r}" if several else repr(first)
    raise Transient(
        f"the source {job.source.connection} holds {len(held)} of the {taken} {objects} "
        f"this run took for absent after all ({named} among them): its read skipped them "
        "(a read paged by offset, while records were deleted and added); nothing is "
        "written, and the run is planned again later"
    )


async def held_after_all(
    job: Job, at: int, pair: Pair, context: MappingContext, absent: list[Record]
) -> list[str]:
    """The keys (as shown) of the `absent` objects of the `at`-th type that the source
    holds a record of, looked up or read again, mapped as the run maps them."""
    mapping, (source, target) = job.objects[at], pair
    keys, case_insensitive = mapping.keys, mapping.case_insensitive
    # Where the destination may compare keys without case, an object whose key the
    # source holds in another case is left alone by the planner: found so too.
    fold = folds_case(mapping, target) and not case_insensitive

    def compared(key: str) -> str:
        return folded_key(key, len(keys)) if fold else key

    wanted: dict[str, str] = {}
    for match in absent:
        if (key := match_key(match, keys, case_insensitive)) is not None:
            wanted.setdefault(compared(key), display_key(match, keys))
    mapper = mapper_of(job, at, pair, context)
    found: dict[str, None] = {}
    async for batch in _asked(mapping, source, target, absent):
        for record in mapper.map(batch):
            key = match_key(record, keys, case_insensitive)
            if key is not None and (shown := wanted.get(compared(key))) is not None:
                found[shown] = None
    for failure in mapper.failures:  # a record that fails holds its object
        if failure.held is not None:
            if (shown := wanted.get(compared(failure.held))) is not None:
                found[shown] = None
        elif failure.keys is None or failure.error.action == "map":  # any object's
            found[failure.error.key or "a record without a key"] = None
    return list(found)


async def _asked(
    mapping: ObjectMapping, source: Provider, target: Provider, absent: list[Record]
) -> AsyncIterator[list[Record]]:
    """The source's records of the `absent` objects' keys where it can look them up by
    the field their first key is copied from (and they are not too many), finding every
    spelling of them the run takes for them — by texts they hold where the source looks
    values up so —, in every case where keys are compared without case; else — or where
    the source refuses the lookup (a service that cannot search by that attribute) —
    every record, read again."""
    field = key_copied_from(mapping, source) if len(absent) <= LOOKUP_AT_MOST else None
    if field is not None and folds_case(mapping, target) and not _value_folds(source, field):
        field = None  # a lookup finds its value in that case alone: read whole
    values = [value for match in absent if isinstance(value := match.get(mapping.keys[0]), str)]
    if field is not None and any(respelled(target, mapping.keys[0], value) for value in values):
        field = None  # the source may spell the key otherwise ("005" held as 5): read whole
    held: list[list[str]] = []
    if field is not None and isinstance(source, HoldingReader):
        folds = folds_case(mapping, target)
        for value in values:
            if (texts := searched(key_parts(value, folds))) is None:
                field = None  # no text every spelling of it holds ("ß", "é"): read whole
                break
            held.append(texts)
    if field is not None and isinstance(source, KeyReader) and len(values) == len(absent):
        if isinstance(source, HoldingReader):
            found = source.read_holding(field, held, READ_BATCH)
        else:
            found = source.read_keys(field, spellings(values), READ_BATCH)
        try:
            async for batch in tracing.reads(found, side="source", object_type=mapping.type):
                yield batch
            return
        except BadInput as refused:  # the search itself: what a whole read needs not
            log.info("absence confirmed by a whole read", lookup_refused=str(refused))
    every = source.read(READ_BATCH)
    async for batch in tracing.reads(every, side="source", object_type=mapping.type):
        yield batch


def searched(texts: list[str] | None) -> list[str] | None:
    """The texts a key is looked up by: those of `texts` (`key_parts`) of two characters
    or more — a search for one finds about every record, and each search as many —;
    None where none is."""
    kept = [text for text in texts or [] if len(text) >= 2]
    return kept or None


def spellings(values: list[str]) -> list[str]:
    """Each value as the destination holds it and as the run compares it — without the
    spaces around it, in Unicode NFC — and, where not ASCII, in NFD: a source record
    spelled any of those ways holds the object (core.engine.match_key), and a lookup
    finds a value as it is spelled."""
    found: dict[str, None] = {}
    for value in values:
        found[value] = None
        plain = unicodedata.normalize("NFC", value).strip()
        if plain:
            found[plain] = None
            if not plain.isascii():
                found[unicodedata.normalize("NFD", plain)] = None
    return list(found)


def respelled(target: Provider, key: str, value: str) -> bool:
    """Whether the destination may hold `value` of its `key` field for a source value spelled
    otherwise, which a lookup of `value` does not find: its `canonical` makes another text
    of a value written around it ("05" in a number column is 5), or refuses it (a date
    column, whose dates are in a format of its own)."""
    for probe in (f"0{value}", f"{value}0"):
        try:
            given = target.canonical({key: probe}).get(key)
        except Exception:  # refused: a typed column's, whose spellings are its own
            return True
        if not isinstance(given, str) or _plain(given) != _plain(probe):
            return True
    return False


def _plain(value: str) -> str:
    return unicodedata.normalize("NFC", value).strip()


def folds_case(mapping: ObjectMapping, target: Provider) -> bool:
    """Whether a record whose key is the absent object's in another case holds it: the job
    compares keys without case, or the destination may (then the planner leaves such
    an object alone)."""
    return mapping.case_insensitive or getattr(target, "keys_fold", None) is not False


def _value_folds(source: Provider, field: str) -> bool:
    """Whether the source compares `field`'s values without case (SCIM's userName), so
    that a lookup finds a value in every case."""
    folds = getattr(source, "value_folds", None)
    return bool(folds(field)) if callable(folds) else False
