"""A source's records on their way to the planner: read, checked, filtered, mapped, and
failures kept.

Every job shape (one type, several types, references, the low-memory planner) maps its
source records here, so each treats a failure the same way: a record that cannot be
mapped (a transformation fails, a script skips it) is reported and *holds* its object —
the planner leaves it as it is instead of taking it for absent. A record whose key
itself cannot be mapped could be any object: then nothing is done about absence.
"""

from __future__ import annotations

from collections.abc import AsyncGenerator, Callable, Iterable, Sequence
from dataclasses import dataclass
from functools import partial
from itertools import repeat
from operator import is_not
from typing import Any, cast

import msgspec

from core.checks.objects import endpoint_of
from core.engine import TypeRecords, match_key, with_container
from core.engine.conditions import compile_condition, fields_tested
from core.engine.containers import Scope
from core.engine.context import MappingContext
from core.engine.failures import Failure
from core.engine.keys import KEY_SEPARATOR, folded_key
from core.engine.lifecycle import LEAVER_FIELD
from core.engine.mapping import CompiledMapping, compile_mapping, filled
from core.engine.plan import Plan
from core.engine.scripts import RecordSkipped
from core.engine.source_fields import fields_read
from core.engine.transforms import RecordFailed
from core.errors import BadInput
from core.history import named_secret
from core.origins import Origins, origins_of
from schemas.jobs import Job, ObjectMapping
from schemas.plan import RecordError
from schemas.values import (
    Binary,
    Record,
    TextRows,
    Value,
    columns_from_records,
    records_from_columns,
)
from services.common import tracing
from services.providers.base import (
    ChangeReader,
    FallsBack,
    KeepsAsIs,
    Provider,
    ReadsRows,
    WarnsOfChanges,
)

from .reading import Learned, Reading
from .sides import READ_BATCH

Columns = tuple[tuple[str, ...], list[list[Value]]]
"""A batch the mapper took at once as columns (`CompiledMapping.copied`): the fields
written, each one's values in the records' order."""
AsIs = Callable[[Sequence[str], Sequence[Sequence[Value | None]]], bool]
"""A destination's `canonical_as_is` (`KeepsAsIs`)."""


@dataclass(frozen=True)
class Planned:
    """What a planning strategy gives: the plan (its warnings with why absence was left
    alone, when it was), the records read on each side, and the records that failed."""

    plan: Plan
    types: list[TypeRecords]
    """Each object type's records read on each side."""
    errors: list[RecordError]

    @property
    def read(self) -> int:
        """The source records read, of every type."""
        return sum(each.source_records for each in self.types)

    @property
    def found(self) -> int:
        """The destination records read, of every type."""
        return sum(each.destination_records for each in self.types)

    @classmethod
    def of(
        cls,
        the_plan: Plan,
        types: list[TypeRecords],
        errors: list[RecordError],
        mappers: Sequence[SourceMapper],
    ) -> Planned:
        blind = [w for mapper in mappers for w in mapper.blind_warnings()]
        warned = msgspec.structs.replace(
            the_plan, warnings=blind + the_plan.warnings, leading=len(blind) + the_plan.leading
        )
        return cls(warned, types, errors)


def mapper_of(
    job: Job,
    at: int,
    pair: tuple[Provider, Provider],
    context: MappingContext,
    *,
    traced: bool = False,
) -> SourceMapper:
    """The mapper of the job's `at`-th object type, of records read from `pair`'s source
    shaped for its destination; `traced`: keeping the source values of fields a
    transformation computes (origins)."""
    source, target = pair
    mapping = job.objects[at]
    compiled = compile_mapping(mapping, context, f"$.objects[{at}]")
    where = endpoint_of(job.source, mapping.source).where
    spell = spelling(source) if getattr(source, "spells_values", False) else None
    mapper = SourceMapper(compiled, target.canonical, mapping, where, spell)
    if getattr(source, "source_fields", None) is None:
        # A source that names no fields before it is read (a directory, a service): a
        # field `where` or `leavers.when` tests that no record holds may be one it cannot
        # read.
        mapper.unseen = set(fields_tested(where)) if where else set()
        if mapping.leavers is not None and mapping.restore:
            mapper.unseen_when = set(fields_tested(mapping.leavers.when))
        mapper.watch_fields(attributes_of_fields(mapping))
    mapper.as_is = target.canonical_as_is if isinstance(target, KeepsAsIs) else None
    destination = endpoint_of(job.destination, mapping.destination)
    if mapping.container_from is not None and destination.container:
        mapper.scope = Scope(destination.container, destination.include_subcontainers)
    if traced:
        mapper.origins = origins_of(mapping)
    return mapper


def spelling(target: Provider) -> Callable[[str, str], str]:
    """A field's value as `target` holds it (its `canonical`: "042" in a column of
    integers is "42"), for a reference to look it up so; a value it would refuse, or make
    several, as it is."""
    canonical = target.canonical

    def spell(field: str, value: str) -> str:
        try:
            spelled = canonical({field: value}).get(field)
        except RecordFailed:
            return value
        return spelled if isinstance(spelled, str) else value

    return spell


def spelled(spec: Any, spell: Callable[[str, str], str]) -> Any:
    """A condition whose `equals` also hold each text as the source reads its field
    (`spell`), beside the text itself; the rest as it is (checked when compiled)."""
    if not isinstance(spec, dict):
        return spec
    out = {
        kind: [spelled(item, spell) for item in inner] if isinstance(inner, list) else inner
        for kind, inner in spec.items()
        if kind in ("all", "any")
    }
    if "not" in spec:
        out["not"] = spelled(spec["not"], spell)
    field, equals = spec.get("field"), spec.get("equals")
    if isinstance(field, str) and isinstance(equals, str | list):
        texts = [equals] if isinstance(equals, str) else equals
        if all(isinstance(text, str) for text in texts):
            out["equals"] = list(dict.fromkeys([*texts, *(spell(field, t) for t in texts)]))
    return {**spec, **out}


class SourceMapper:
    """Maps source records as they stream in; a record a transformation cannot handle
    becomes a record error, its object is held, and the others go on."""

    def __init__(
        self,
        compiled: CompiledMapping,
        canonical: Callable[[Record], Record],
        mapping: ObjectMapping,
        where: dict[str, Any] | None = None,
        spell: Callable[[str, str], str] | None = None,
    ) -> None:
        """`spell`: a field's value as the source reads it (`spelling`), where a typed
        column reads in one spelling: what `where` and `leavers.when` compare with is
        also taken so ("t" is "true" in a boolean column)."""
        self.compiled, self.canonical, self.mapping = compiled, canonical, mapping
        when = mapping.leavers.when if mapping.leavers else None
        if spell is not None:
            where, when = spelled(where, spell), spelled(when, spell)
        self.where = compile_condition(where, "$.source.where", "where") if where else None
        self.leaving = compile_condition(when, "$.leavers.when", "when") if when else None
        self.tested = tuple(dict.fromkeys([*fields_tested(where), *fields_tested(when)]))
        """The fields `where` and `leavers.when` test: binary data in one fails its record
        (no text to test: out of scope, its object would look absent)."""
        self.outside = 0
        """Records read that the source's `where` leaves out of the job's scope."""
        self.outside_keys: list[str] | None = None
        """For a run scoped to keys: the keys, as read, of those records."""
        self.failures: list[Failure] = []
        """The records that failed, in the order read: each one's error, and the object
        it holds (its object is not absent; a key one holds that another source record
        has too is a key the source holds twice, refused as `DuplicateKey`)."""
        self.fields: dict[str, None] = {}
        """Every source field seen, in first-seen order, for a job copying every field
        (one that maps its fields writes those: `managed_fields`)."""
        self.keyless_failures = 0
        """Records that failed and whose key could not be mapped either."""
        self.unseen: set[str] = set()
        """The fields `where` tests that no record read has held a value in yet, where the
        source does not say which fields it has (`mapper_of`): an attribute the account
        may no longer read, misspelt, or one the service leaves out — every record then
        tested without it."""
        self.unseen_when: set[str] = set()
        """The same of the fields `leavers.when` tests, where a job restores: every
        leaver would look back (`hold_restores`)."""
        self.restores_held = False
        """Whether this run restores none of the type's objects (`hold_restores`)."""
        self.field_sources: dict[str, tuple[str, ...]] = {}
        """Each mapped field (not a key) → the source fields its value is made from,
        where the source does not say which fields it has (`watch_fields`)."""
        self.unread: set[str] = set()
        """Those source fields no record read has held a value in yet."""
        self.records_read = 0
        """The source records read, in the job's scope or not."""
        self.fields_held: dict[str, tuple[str, ...]] = {}
        """The fields this run neither sets nor clears on any object (`hold_fields`)."""
        self.fields_kept: set[str] = set()
        """Those of them some destination object holds a value in: kept from a clear, and
        warned of (`weigh_held`); the others had nothing to clear."""
        self.origins: Origins | None = None
        """When kept: the source values the plan's transformed fields are computed from."""
        self.unmade: list[Columns] | None = None
        """When a list: a batch mapped at once and kept as it is goes there as its columns
        (`CompiledMapping.copied`'s), its records not made (`map` gives none of it): for
        a re-run to compare them with the table's rows first (unless_same.py), and for a
        large plan to plan its creates from them (low_memory.py, `Spill.add_columns`)."""
        self.scope: Scope | None = None
        """Where the destination reads objects, for a job taking containers from a source
        field: a record naming a container out of it fails (`with_container`)."""
        self.as_is: AsIs | None = None
        """Where the destination can tell at once that `canonical` gives every record of a
        batch back as it is (its `canonical_as_is`: SQLite, PostgreSQL and MySQL tables): a
        batch mapped is looked at once."""

    def watch_fields(self, sources: dict[str, tuple[str, ...]]) -> None:
        """Watch the source fields each of `sources`' fields is made from: where none of
        the records read holds one of them, a run of the whole source may not clear that
        field (`hold_fields`)."""
        self.field_sources = sources
        self.unread = {name for names in sources.values() for name in names}

    def map(self, batch: list[Record]) -> list[Record]:
        self.records_read += len(batch)
        if self.unread:  # looked up a field at a time: nothing called for a value missing
            unread, get = self.unread, dict.get
            unread.difference_update(
                [
                    name
                    for name in unread
                    if any(map(filled, filter(_SOMETHING, map(get, batch, repeat(name)))))
                ]
            )
        mapped: list[Record] = []
        compiled, canonical, mapping = self.compiled, self.canonical, self.mapping
        where, leaving, origins = self.where, self.leaving, self.origins
        if not mapping.fields:  # a job copying every field writes those it has seen
            for record in batch:
                self.fields.update(dict.fromkeys(record))
        if self._quick:
            if (columns := compiled.copied(batch)) is not None:  # a batch of plain copies
                made = self._copied(columns)
                if made is not None:
                    return made  # else record by record, for the one that fails to be told
            shape = compiled.map  # each record mapped, nothing else: the usual job
            if (as_is := self.as_is) is not None:
                return self._map_as_is(batch, shape, as_is)
            for record in batch:
                try:
                    mapped.append(canonical(shape(record)))
                except RecordFailed as error:
                    self._failed(record, error)
            return mapped
        tested, unseen, unseen_when = self.tested, self.unseen, self.unseen_when
        for record in batch:
            if unseen:
                unseen.difference_update([name for name in unseen if filled(record.get(name))])
            if unseen_when:
                unseen_when.difference_update(
                    [name for name in unseen_when if filled(record.get(name))]
                )
            if tested and (field := _binary(record, tested)) is not None:
                problem = "binary data, which `where` and `leavers.when` cannot test"
                self._failed(record, RecordFailed(problem, field))
                continue
            if where is not None and not where(None, record):
                self.outside += 1  # its object, if any, is absent from the job's scope
                if self.outside_keys is not None:
                    self.outside_keys.append(compiled.key_of(record))
                continue
            try:
                shaped = canonical(compiled.map(record))
                # The container of a new object may come from a source field that is not
                # mapped: it travels with the mapped record under a reserved name.
                shaped = with_container(shaped, record, mapping, self.scope)
            except RecordFailed as error:  # that record fails (or a script skips it)
                self._failed(record, error)
                continue
            if leaving is not None and leaving(None, record):
                shaped[LEAVER_FIELD] = "yes"  # its object goes (lifecycle.py)
            if origins is not None:
                origins.keep(shaped, record)
            mapped.append(shaped)
        return mapped

    def map_rows(self, rows: TextRows) -> list[Record]:
        """`map` of the records `rows` makes; a batch copied as it is is taken from the
        rows a column at a time (`copied_rows`), no source record made."""
        if self.unread:  # each record looked at for the source fields none held yet
            return self.map(rows.records())
        if self._quick and (columns := self.compiled.copied_rows(rows)) is not None:
            mapped = self._copied(columns)
            if mapped is not None:
                return mapped
        return self.map(rows.records())

    @property
    def _quick(self) -> bool:
        """Whether a batch copied at once is mapped: no record tested, none traced."""
        return (
            self.where is None
            and self.leaving is None
            and self.origins is None
            and self.mapping.container_from is None
        )

    def _copied(self, columns: Columns) -> list[Record] | None:
        """The records of a batch copied at once (`columns`), made canonical at once,
        or kept as columns (`unmade`) where the destination keeps them as they are;
        None where one fails: then each is mapped in turn, for it to be told."""
        kept = self.as_is is not None and self.as_is(*columns)
        if kept and self.unmade is not None:
            self.unmade.append(columns)
            return []
        at_once = records_from_columns(*columns)
        if kept:
            return at_once
        try:
            return list(map(self.canonical, at_once))
        except RecordFailed:
            return None

    def _map_as_is(
        self,
        batch: list[Record],
        shape: Callable[[Record], Record],
        as_is: AsIs,
    ) -> list[Record]:
        """`map`'s usual way, the batch shaped first and made canonical at once when the
        destination keeps every shaped record as it is (else one by one, as ever)."""
        sources: list[Record] = []
        shaped: list[Record] = []
        for record in batch:
            try:
                shaped.append(shape(record))
            except RecordFailed as error:
                self._failed(record, error)
                continue
            sources.append(record)
        if as_is(*columns_from_records(shaped)):
            return shaped
        mapped: list[Record] = []
        canonical = self.canonical
        for record, made in zip(sources, shaped, strict=True):
            try:
                mapped.append(canonical(made))
            except RecordFailed as error:
                self._failed(record, error)
        return mapped

    @property
    def errors(self) -> list[RecordError]:
        """The errors of the records that failed, in the order read."""
        return [failure.error for failure in self.failures]

    def _failed(self, record: Record, error: RecordFailed) -> None:
        action = "skip" if isinstance(error, RecordSkipped) else "map"
        key_read = self.compiled.key_of(record)
        message = str(error)
        if not key_read.strip():  # nothing to find it by in the source: its values
            message += f" (a record without a key: {_record_shown(record)})"
        reported = RecordError(
            key=key_read,
            action=action,
            message=message,
            object_type=self.mapping.type,
        )
        keys_of, case_insensitive = self.mapping.keys, self.mapping.case_insensitive
        first = keys_of[:1]
        try:
            keys = self.canonical(self.compiled.map_keys(record))
        except RecordFailed:
            self.keyless_failures += 1
            # Its object unknown: known by its first key as the source holds it.
            read: Record = {first[0]: self.compiled.key_texts(record)[0]}
            scope = match_key(read, first, case_insensitive)
            self.failures.append(Failure(record, reported, None, None, scope))
            return
        key = match_key(keys, keys_of, case_insensitive)
        if key is None and (action == "map" or any(keys.get(field) for field in keys_of)):
            # several values, or binary; or empty, in a record that failed for another
            # field (a login made from the key): any object, as a record mapped with
            # values but an empty key is (a script's skip is a choice, as `where` is)
            self.keyless_failures += 1
        scope = match_key(keys, first, case_insensitive)
        self.failures.append(Failure(record, reported, keys, key, scope))

    def keep_failures_of(self, keys: list[str], *, fold: bool = False) -> None:
        """Only the failures of a run scoped to `keys`: the records whose first key, as
        the mapping makes it, is one of them — as `only_keys` keeps the records mapped,
        with the same `fold`. A record whose key itself failed is known by its first key
        as read."""
        wanted = scope_of(self.mapping, keys, fold=fold)
        whole = whole_keys(self.mapping, keys, fold=fold)
        if fold and not self.mapping.case_insensitive:
            n = len(self.mapping.keys)
            self.failures = [
                failure
                for failure in self.failures
                if (failure.scope is not None and folded_key(failure.scope, 1) in wanted)
                or (failure.held is not None and folded_key(failure.held, n) in whole)
            ]
            return
        self.failures = [
            failure
            for failure in self.failures
            if failure.scope in wanted or (whole and failure.held in whole)
        ]

    @property
    def blind(self) -> bool:
        """Whether destination objects missing from the source cannot be told absent: a
        record failed before its key could be read (it could be any of them), or the
        source's `where` left records out by a field none of the records read held
        (`unseen`: they may be in scope)."""
        return self.keyless_failures > 0 or self.blind_filter is not None

    @property
    def blind_filter(self) -> str | None:
        """The fields of `where` none of the records read held, when it left records out."""
        if not (self.outside and self.unseen):
            return None
        return ", ".join(repr(name) for name in sorted(self.unseen))

    def hold_restores(self, mapping: ObjectMapping) -> ObjectMapping:
        """`mapping` as a run of the whole source plans it: without `restore` where
        `leavers.when` tests a field none of the records read held (`unseen_when`) —
        every leaver then looks back, and would be enabled (or moved back)."""
        if not self.unseen_when or not mapping.restore:
            return mapping
        self.restores_held = True
        return msgspec.structs.replace(mapping, restore=False)

    @property
    def unread_fields(self) -> dict[str, tuple[str, ...]]:
        """The mapped fields every source field of which none of the records read held,
        once at least two were read (one record without a value is no sign): an attribute
        the account may no longer read, or misspelt — every record then reads empty."""
        if self.records_read < 2 or not self.unread:
            return {}
        unread = self.unread
        return {
            field: names
            for field, names in self.field_sources.items()
            if names and all(name in unread for name in names)
        }

    def hold_fields(self, mapping: ObjectMapping) -> ObjectMapping:
        """`mapping` as a run of the whole source plans it: without the fields made from
        source fields none of the records read held (`unread_fields`) — each would be
        cleared on every object (every member of every group removed). The objects keep
        those fields as they are in this run; a run scoped to keys plans them as ever."""
        held = self.unread_fields
        if not held:
            return mapping
        self.fields_held = held
        fields = [field for field in mapping.fields if field.to not in held]
        return msgspec.structs.replace(mapping, fields=fields)

    def weigh_held(self, destination: Iterable[Record]) -> None:
        """Of the fields held, those some of the `destination` objects a source record is
        planned against hold a value in: their value is kept from a clear (an object
        holding none has nothing to clear, and is planned alike either way; one absent from
        the source is never cleared)."""
        held = set(self.fields_held)
        for record in destination if held else ():
            kept = {name for name in held if filled(record.get(name))}
            self.fields_kept |= kept
            held -= kept
            if not held:
                break

    def blind_warnings(self) -> list[str]:
        """Why absence is not acted on, when a failed record's key could not be read, or
        the source's `where` tested a field no record held; why no object is restored."""
        told: list[str] = []
        if self.keyless_failures:
            many = self.keyless_failures != 1
            told.append(
                f"{self.keyless_failures} source record{'s' * many} failed without a key "
                "that can be read (empty, several values, binary, or failed itself): "
                f"{'they' if many else 'it'} could be destination objects missing from the "
                "source, so nothing is done about those in this run"
            )
        elif (fields := self.blind_filter) is not None:
            told.append(
                f"{self.mapping.type}: the source's `where` left {self.outside} records out "
                f"by {fields}, which none of the records read holds: the account may not "
                "read it, or the source names it otherwise; nothing is done about "
                "destination objects missing from the source in this run"
            )
        if self.restores_held:
            fields = ", ".join(repr(name) for name in sorted(self.unseen_when))
            told.append(
                f"{self.mapping.type}: `leavers.when` tests {fields}, which none of the "
                "records read holds: the account may not read it, or the source names it "
                "otherwise, and every leaver would look back; no object is restored in "
                "this run"
            )
        for field, names in self.fields_held.items():
            if field not in self.fields_kept:
                continue  # no object held a value: nothing was kept from a clear
            read = ", ".join(repr(name) for name in names)
            told.append(
                f"{self.mapping.type}: {field!r} is made from {read}, which none of the "
                f"{self.records_read} records read holds: check that the account may read "
                "it and that the source names it so; the field is neither set nor cleared "
                "on any object in this run. If every record truly lost it, a run scoped to "
                "keys (--key) clears it on those objects"
            )
        return told


def planned_against(
    source: Iterable[Record], destination: Iterable[Record], keys: Sequence[str], fold: bool
) -> list[Record]:
    """The `destination` objects a record of `source` (those given to the planner) is
    planned against: the only ones a field's clear would reach — an object absent from
    the source is left alone, disabled or deleted, never cleared (`weigh_held`)."""
    read = {match_key(record, keys, fold) for record in source}
    read.discard(None)
    return [record for record in destination if match_key(record, keys, fold) in read]


_SOMETHING = partial(is_not, None)
"""Whether a record's value is there at all (`filter`: in C, before `filled` is called)."""

_MADE_FROM_NOTHING = frozenset(
    {"static", "join", "format", "default", "map", "if", "password", "script"}
)
"""Transformations that may give a value where the fields they read hold none."""


def attributes_of_fields(mapping: ObjectMapping) -> dict[str, tuple[str, ...]]:
    """Each field the mapping writes (not a key) → the source fields its value is made
    from (`fields_read`: its `from`, and those a transformation names), where it is empty
    whenever they all are: copied, or transformed by steps that make nothing of nothing
    (not `default`, `format`, `static`, a script…: their values are set as ever). Not
    those a run never clears: written at creation only, only where the object has none
    (`keep`), merged with the object's own (`merge`), or in a job that updates nothing."""
    if mapping.on_both != "update":
        return {}
    keys = set(mapping.keys)
    made: dict[str, tuple[str, ...]] = {}
    for field in mapping.fields:
        if field.to in keys or field.to in made or _makes_values(field.transform):
            continue
        if field.create_only or field.policy != "force":
            continue
        alone = msgspec.structs.replace(mapping, fields=[field], container_from=None, leavers=None)
        made[field.to] = tuple(fields_read(alone, ""))
    return made


def _makes_values(spec: object) -> bool:
    """Whether a field's transformation may give a value of a record holding none of the
    fields it reads (`_MADE_FROM_NOTHING`)."""
    steps = spec if isinstance(spec, list) else [spec]
    for step in steps:
        if isinstance(step, str) and step in _MADE_FROM_NOTHING:
            return True
        if isinstance(step, dict) and not _MADE_FROM_NOTHING.isdisjoint(step):
            return True
    return False


def _record_shown(record: Record) -> str:
    """A source record as a failure without a key shows it, to be found in the source: its
    text values, but for fields named like a secret (a password column of an export)."""
    shown = {
        name: value
        for name, value in record.items()
        if isinstance(value, str | list) and not named_secret(name)
    }
    return msgspec.json.encode(shown, order="sorted").decode()


def _binary(record: Record, fields: Sequence[str]) -> str | None:
    """The first of `fields` holding binary data in `record`, if any."""
    return next((name for name in fields if isinstance(record.get(name), Binary)), None)


def check_source_fields(
    mapping: ObjectMapping, source: Provider, path: str, where: dict[str, Any] | None
) -> None:
    """A field the mapping (or the source's `where`) reads that the source does not have is
    the job's error, found before anything is read: a renamed column must not make every
    record look empty — or, in a filter, every record look out of scope."""
    listed = getattr(source, "source_fields", None)
    known = listed() if listed is not None else None
    if known is None:
        return  # a directory, a plugin: its records name their fields one by one
    read = fields_read(mapping, path)
    for name in fields_tested(where):
        read.setdefault(name, "$.source.where")
    present = set(known)
    by_case = {name.strip().casefold(): name for name in reversed(known)}
    problems = [
        f"{at}: the source has no field {name!r}" + _other_case(name, by_case)
        for name, at in read.items()
        if name not in present
    ]
    if problems:
        fields = ", ".join(repr(n) if n != n.strip() else n for n in known) or "none"
        # A file's header renamed since the job was written: say which file to look at.
        named = getattr(source, "fields_from", None)
        read_from = f"; read from {named()}" if named is not None else ""
        raise BadInput(
            "; ".join(problems) + f" (its fields: {fields})" + read_from + _one_field(known)
        )


def _other_case(name: str, by_case: dict[str, str]) -> str:
    """A hint when the source holds the name in another case (field names compare with it),
    or with spaces around it (a header typed "empNo ,firstName")."""
    found = by_case.get(name.strip().casefold())
    if found is None:
        return ""
    if found.strip() != found and found.strip() == name:
        return (
            f" (it has {found!r}, with spaces around it: names compare as written; remove "
            "them from the header, or name the field with them)"
        )
    return f" (it has {found!r}: names compare with case)"


_DELIMITERS = {";": '";"', ",": '","', "\t": '"\\t"', "|": '"|"'}
"""Delimiters a header read as one field may hold, each as TOML spells it."""


def _one_field(known: Sequence[str]) -> str:
    """A hint when the header read as one field holding a delimiter: the file's
    delimiter is not the one the connection (or the job's source) says."""
    if len(known) != 1:
        return ""
    spelled = next((toml for char, toml in _DELIMITERS.items() if char in known[0]), None)
    if spelled is None:
        return ""
    return (
        f"; the header reads as one field holding {spelled}: if that is the file's "
        f"delimiter, set delimiter = {spelled} on the connection or on the job's source"
    )


async def source_batches(
    job: Job, source: Provider, reading: Reading, kind: str, learned: Learned
) -> AsyncGenerator[list[Record], None]:
    """The source's records: only the changed ones for an incremental run. A full run of
    a job with `changes` reads them through the change reader too, to learn the watermark
    (put in `learned` under the object type once every record is read, with why the
    source read every record of an incremental run, when it says so)."""
    if job.changes is None:
        async for batch in tracing.reads(source.read(READ_BATCH), side="source", object_type=kind):
            yield batch
        return
    if not isinstance(source, ChangeReader):
        raise BadInput(
            f"job {job.id}: the source {job.source.connection} cannot read only changed "
            "records; remove `changes` from the job"
        )
    since = reading.since_for(job, kind) if reading.incremental else None
    changed = source.read_changed(READ_BATCH, since, job.changes.field)
    async for batch in tracing.reads(changed, side="source", object_type=kind, changed_only=1):
        yield batch
    learned.marks[kind] = source.watermark()
    if isinstance(source, WarnsOfChanges):
        learned.warnings.extend(source.change_warnings())
    why = source.fell_back() if since is not None and isinstance(source, FallsBack) else None
    if why:
        learned.fell_back[kind] = why


async def source_rows(
    job: Job, source: Provider, reading: Reading, kind: str, learned: Learned
) -> AsyncGenerator[list[Record] | TextRows, None]:
    """`source_batches`, each as the rows read where the source keeps them (`ReadsRows`)
    and the run reads every record as it is (a job without `changes`)."""
    if job.changes is None and isinstance(source, ReadsRows):
        rows = source.read_rows(READ_BATCH)
        async for batch in tracing.reads(rows, side="source", object_type=kind):
            yield batch
        return
    async for records in source_batches(job, source, reading, kind, learned):
        yield records


def unknown_keys(
    keys: list[str],
    mapping: ObjectMapping,
    mapped: list[Record],
    scoped: list[Record],
    errors: list[RecordError],
    *,
    fold: bool = False,
) -> list[str]:
    """Those of `keys` (asked for, as a run scoped to them is) that neither a record
    mapped, nor an object, nor a record that failed holds in its first key field (`fold`:
    in any case, as `only_keys` keeps them)."""
    field = mapping.keys[:1]
    ci = mapping.case_insensitive or fold
    held = {match_key(r, field, ci) for r in (*mapped, *scoped)}
    held |= {match_key({field[0]: error.key}, field, ci) for error in errors}
    whole = {match_key(r, mapping.keys, ci) for r in (*mapped, *scoped)} - {None}
    whole |= {_whole_key(mapping, error.key, ci) for error in errors} - {None}
    return [
        key
        for key in keys
        if match_key({field[0]: key}, field, ci) not in held
        and _whole_key(mapping, key, ci) not in whole
    ]


def only_keys(
    records: list[Record], mapping: ObjectMapping, keys: list[str], *, fold: bool = False
) -> list[Record]:
    """The records whose (first) key field holds one of `keys` (a blank one is no key:
    it scopes to no record, as a lookup finds none for it); `fold`: in any case, as a
    destination comparing keys without case finds them."""
    field, wanted = mapping.keys[:1], scope_of(mapping, keys, fold=fold)
    folded = mapping.case_insensitive or fold
    if whole := whole_keys(mapping, keys, fold=fold):
        every = mapping.keys
        return [
            r
            for r in records
            if match_key(r, field, folded) in wanted or match_key(r, every, folded) in whole
        ]
    return [r for r in records if match_key(r, field, folded) in wanted]


def scope_of(mapping: ObjectMapping, keys: list[str], *, fold: bool = False) -> set[str | None]:
    """The keys a run scoped to `keys` asks for, as it compares records' first keys with
    them (a blank one is no key; `fold`: without case, whatever the mapping says)."""
    field, folded = mapping.keys[:1], mapping.case_insensitive or fold
    wanted = {match_key({field[0]: key}, field, folded) for key in keys}
    wanted.discard(None)
    return wanted


def whole_keys(mapping: ObjectMapping, keys: list[str], *, fold: bool = False) -> set[str]:
    """Of a type of several key fields, the keys asked for as its objects' keys are shown
    (`idsync run show`, a preview: their parts joined with " / ", "E1 / Sales"), as a
    run compares whole keys: that object alone is in the run's scope (its first key
    alone, "E1", scopes every object whose first key it is)."""
    folded = mapping.case_insensitive or fold
    found = {_whole_key(mapping, key, folded) for key in keys}
    found.discard(None)
    return cast(set[str], found)


def _whole_key(mapping: ObjectMapping, key: str, folded: bool) -> str | None:
    fields = mapping.keys
    if len(fields) < 2 or key.count(KEY_SEPARATOR) != len(fields) - 1:
        return None
    return match_key(dict(zip(fields, key.split(KEY_SEPARATOR), strict=True)), fields, folded)


def left_out(
    asked: list[str], mapping: ObjectMapping, mapper: SourceMapper, *, fold: bool = False
) -> list[str]:
    """Those of the keys `asked` whose source record the source's `where` left out of the
    job's scope, of a run scoped to keys (`SourceMapper.outside_keys`)."""
    if not mapper.outside_keys:
        return []
    firsts = scope_of(mapping, mapper.outside_keys, fold=fold)
    whole = whole_keys(mapping, mapper.outside_keys, fold=fold)
    return [
        key
        for key in asked
        if scope_of(mapping, [key], fold=fold) & firsts
        or whole_keys(mapping, [key], fold=fold) & whole
    ]


def first_keys(mapping: ObjectMapping, keys: list[str] | None) -> list[str] | None:
    """The keys a run scoped to `keys` reads its sides by (their first key field): each
    as asked, and the first part of one asked as a whole key (`whole_keys`)."""
    if keys is None or len(mapping.keys) < 2:
        return keys
    firsts = [key.split(KEY_SEPARATOR)[0] for key in keys if _whole_key(mapping, key, False)]
    return list(dict.fromkeys([*keys, *firsts]))


def out_of_scope(
    records: list[Record],
    mapping: ObjectMapping,
    keys: list[str],
    failures: Sequence[Failure],
    *,
    fold: bool = False,
) -> list[Record]:
    """The records a run scoped to `keys` leaves out (`only_keys` keeps the others, with
    the same `fold`), but for those of a key a record that failed holds (a key the source
    holds twice)."""
    kept = {id(r) for r in only_keys(records, mapping, keys, fold=fold)}
    held = {failure.held for failure in failures}
    return [
        r
        for r in records
        if id(r) not in kept and match_key(r, mapping.keys, mapping.case_insensitive) not in held
    ]
