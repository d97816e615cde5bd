"""Planning in memory: every record of every object type held, the types planned
together so that references resolve against the planned state of them all."""

from __future__ import annotations

import asyncio
import dataclasses
from collections.abc import Sequence

from core.engine import TypeRecords, managed_fields
from core.engine.context import MappingContext
from core.engine.objects import ObjectType, plan_objects
from core.engine.plan import Plan
from core.engine.planned_state import Identify, Rename
from core.engine.references import reference_fields
from core.origins import Origins
from core.run_texts import filtered_key_warning, unknown_keys_warning
from schemas.jobs import Job, ObjectMapping
from schemas.plan import RecordError
from schemas.values import Record

from .annotated import ObjectId, annotated, object_ids
from .reading import Learned, Reading
from .scoped import read_sides
from .sides import Pair
from .source import (
    Planned,
    SourceMapper,
    first_keys,
    left_out,
    only_keys,
    out_of_scope,
    planned_against,
    spelling,
    unknown_keys,
)
from .unchanged import with_unchanged
from .unless_same import read_unless_same


async def plan_in_memory(
    job: Job,
    pairs: Sequence[Pair],
    keys: list[str] | None,
    context: MappingContext,
    reading: Reading,
    learned: Learned,
    given: tuple[tuple[SourceMapper, list[Record]], list[Record]] | None = None,
) -> Planned:
    """Each type's source and destination read whole, both sides at once (together.py) —
    or, for a run scoped to some keys, only their records where a side can look them up,
    and for an incremental run only the changed records' objects (scoped.py), with the
    unchanged records that may name an object it creates (unchanged.py) —, the run's
    scope kept, then one plan of them all. `given`: the first type's sides, read
    already (its mapper and mapped records, and its destination records)."""
    types: list[ObjectType] = []
    mappers = []
    sizes: list[TypeRecords] = []
    unchanged = 0
    unknown = list(keys or ())  # keys no record of any type has (yet)
    filtered: list[str] = []  # keys whose source record the source's `where` leaves out
    for at, (mapping, (source, target)) in enumerate(zip(job.objects, pairs, strict=True)):
        pair = (source, target)
        equal = 0  # records equal to their objects, left unread (unless_same.py)
        if at == 0 and given is not None:
            (mapper, mapped), everything = given
        elif read := await read_unless_same(job, at, pair, keys, context, reading, learned):
            (mapper, mapped), everything, equal = read
        else:
            # A whole key asked for ("E1 / Sales") is read by its first part, then kept alone.
            (mapper, mapped), everything = await read_sides(
                job, at, pair, first_keys(mapping, keys), context, reading, learned
            )
        unchanged += equal
        read_count = len(mapped) + equal + len(mapper.errors)
        sizes.append(TypeRecords(mapping.type, read_count, len(everything) + equal))
        scoped = everything
        keys_fold: bool | None = getattr(target, "keys_fold", None)
        outside: list[Record] = []
        if keys is not None:
            # Where the destination compares keys without case, a run scoped to some keys
            # sees their records and objects in any case: the plan refuses two records
            # that would be one object, as a whole run does.
            fold = bool(keys_fold)
            if reference_fields(mapping):  # they may name an object the run creates
                outside = out_of_scope(mapped, mapping, keys, mapper.failures, fold=fold)
            mapped = only_keys(mapped, mapping, keys, fold=fold)
            scoped = only_keys(everything, mapping, keys, fold=fold)
            mapper.keep_failures_of(keys, fold=fold)
            unknown = unknown_keys(unknown, mapping, mapped, scoped, mapper.errors, fold=fold)
            unmapped = {*unknown_keys(list(keys), mapping, mapped, [], mapper.errors, fold=fold)}
            filtered += [k for k in left_out(keys, mapping, mapper, fold=fold) if k in unmapped]
        # A provider that names its objects (a directory) also adds and removes values.
        identify: Identify | None = getattr(target, "identifier", None)
        rename: Rename | None = getattr(target, "renamed", None)
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
                failed=list(mapper.failures),
                blind=mapper.blind,
                rename=rename,
                keys_fold=keys_fold,
                outside=outside,
                spell=spelling(target),
                folds=getattr(target, "value_folds", None),
                refuses=getattr(target, "create_refusal", None),
            )
        )
        mappers.append(mapper)
    incremental = reading.incremental and learned.full_because(job, reading) is None
    act_on_absence = keys is None and not incremental
    if act_on_absence:
        # A run of the whole source: leavers it cannot tell are not back, and fields made
        # from what no record read holds are not cleared everywhere.
        types = [
            _held(t, mapper.hold_fields(mapper.hold_restores(t.mapping)), mapper)
            for t, mapper in zip(types, mappers, strict=True)
        ]
    if incremental and keys is None:
        # The records that did not change may name an object the run creates (a group
        # its new member): read for that alone, as a run scoped to its key reads them.
        types = await with_unchanged(job, pairs, types, context, learned)
    named = object_ids(job, pairs)
    origins = {m.type: mapper.origins for m, mapper in zip(job.objects, mappers, strict=True)}

    def planned() -> tuple[Plan, list[RecordError]]:
        try:
            # A run that reads some records only (scoped to keys, or incremental): the
            # references of the objects it did not read follow its moves, renames and
            # deletes. One scoped to keys holds every case of them (`every_case`).
            the_plan, errors = plan_objects(
                types,
                act_on_absence=act_on_absence,
                scoped=keys is not None or incremental,
                every_case=keys is not None,
            )
            the_plan.counts.unchanged += unchanged
            the_plan.warnings.extend(
                filtered_key_warning(key, held=key not in unknown)
                for key in dict.fromkeys(filtered)
            )
            if nowhere := [key for key in unknown if key not in filtered]:
                the_plan.warnings.append(unknown_keys_warning(nowhere))
            return _annotated((the_plan, errors), named, origins)
        finally:
            # The records go with the plan made, not whenever the worker thread lets go of
            # this call: the collector, resumed as planning ends, would scan them all.
            types.clear()

    the_plan, unresolved = await asyncio.to_thread(planned)
    errors = [error for mapper in mappers for error in mapper.errors] + unresolved
    return Planned.of(the_plan, sizes, errors, mappers)


def _annotated(
    planned: tuple[Plan, list[RecordError]],
    named: dict[str, ObjectId],
    origins: dict[str, Origins | None],
) -> tuple[Plan, list[RecordError]]:
    """The plan with what the history keeps of it (annotated.py)."""
    return annotated(planned[0], named, origins), planned[1]


def _held(each: ObjectType, mapping: ObjectMapping, mapper: SourceMapper) -> ObjectType:
    """`each` planned with `mapping` (`hold_restores`, `hold_fields`): without the fields
    it holds."""
    if mapping is each.mapping:
        return each
    if mapper.fields_held:
        fold = each.mapping.case_insensitive or bool(each.keys_fold)
        mapper.weigh_held(planned_against(each.source, each.destination, each.mapping.keys, fold))
    managed = tuple(name for name in each.managed if name not in mapper.fields_held)
    return dataclasses.replace(each, mapping=mapping, managed=managed)
