"""A job's whole plan over all its object types: each type planned, references resolved
against the planned state of them all, the changes merged in phase order. Pure.

All creates and updates of every type come before any reference, references before
moves, disables and deletes (phases.py), whatever the order of the [[objects]] entries.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Mapping, Sequence
from dataclasses import dataclass
from functools import partial

import msgspec

from schemas.jobs import ObjectMapping
from schemas.plan import Change, PlanCounts, RecordError
from schemas.values import Record

from .counting import count_changes
from .failures import Failure
from .keys import match_key
from .lifecycle import Lifecycle
from .phases import rank
from .plan import Plan, plan, plan_hash
from .planned_state import Identify, Lookup, Rename, lookup
from .references import Outcome, follow_renames, plan_references, reference_fields
from .unique import taken_in

_order = msgspec.msgpack.Encoder(order="deterministic")


@dataclass(frozen=True)
class ObjectType:
    """One [[objects]] entry's records, mapped and read, ready to plan."""

    mapping: ObjectMapping
    source: list[Record]
    destination: list[Record]
    managed: Sequence[str]
    identify: Identify | None = None
    """The identifier a create gives its object (a DN); None: the key."""
    everything: list[Record] | None = None
    """Every destination object of the type, when `destination` is a run's scope only:
    references resolve against them all."""
    edits: bool = True
    """The destination adds and removes values of a field (a directory); else a
    multi-valued reference is written whole."""
    lifecycle: Lifecycle | None = None
    """When its objects were found absent, and the run's clock (lifecycle.py)."""
    failed: Sequence[Failure] = ()
    """Source records that failed before planning: their objects are left as they are,
    never taken for absent; a key one holds that another record has too is a key the
    source holds twice (`plan`)."""
    blind: bool = False
    """A source record failed before its key could be read: it could be any object, so
    nothing is done about absence."""
    rename: Rename | None = None
    """The identifier an object has after its move or update (planned_state.py); None:
    a move is named by `identify`, an update keeps the identifier."""
    keys_fold: bool | None = None
    """The destination compares keys without case (True), with case (False), or it is
    not known (`plan`)."""
    outside: Sequence[Record] = ()
    """For a run scoped to some keys: the type's source records out of its scope, mapped
    (those of keys no record that failed holds); for an incremental run, those that did
    not change: their objects get the references to objects the run creates that a whole
    run would write (`follow_renames`)."""
    spell: Callable[[str, str], str] | None = None
    """A value of a field as the destination holds it ("042" in a column of integers is
    "42"): a reference's value is looked up so among the type's objects."""
    folds: Callable[[str], bool] | None = None
    """Whether the destination holds a field's values equal that differ in case alone (a
    citext column, an LDAP attribute of caseIgnoreMatch): a reference `by` it is looked
    up without case, and a field merged adds no value it holds in another case."""
    refuses: Callable[[Change], str | None] | None = None
    """Why the destination refuses a create before it is sent (an entry out of an LDAP
    destination's query), or None: its record fails alone (`plan`)."""

    def plan(self, managed: Sequence[str], act_on_absence: bool, every_case: bool = False) -> Plan:
        return plan(
            self.source,
            self.destination,
            self.mapping,
            managed,
            act_on_absence=act_on_absence and not self.blind,
            lifecycle=self.lifecycle,
            failed=self.failed,
            # unique values are free among every object's, not only the run's scope's
            taken=taken_in(self.mapping, self.everything or self.destination),
            keys_fold=self.keys_fold,
            every_case=every_case,
            folds=self.folds,
            refuses=self.refuses,
        )


def plan_objects(
    types: Sequence[ObjectType],
    *,
    act_on_absence: bool = True,
    scoped: bool = False,
    every_case: bool = False,
) -> tuple[Plan, list[RecordError]]:
    """The plan of every type, and the records whose references could not be resolved.
    `scoped`: a run that reads some records only (scoped to keys, or incremental), whose
    moves, renames and deletes the references of the objects outside its scope follow,
    and whose creates they name where their source records do (references.py
    `follow_renames`). `every_case`: its records are every source record of their keys,
    in any case where the destination compares keys without case (a run scoped to
    keys: `plan`'s `every_case`)."""
    with_refs = [t for t in types if reference_fields(t.mapping)]
    if len(types) == 1 and not with_refs:
        only = types[0].plan(types[0].managed, act_on_absence, every_case)
        return only, list(only.refused)
    plans = []
    for t in types:
        refs = {f.to for f in reference_fields(t.mapping)}
        managed = [name for name in t.managed if name not in refs]
        plans.append(t.plan(managed, act_on_absence, every_case))
    by_type = {t.mapping.type: (t, p) for t, p in zip(types, plans, strict=True)}
    # Objects left alone because a reference resolves to nothing (`if_none = "skip"`) are
    # neither created nor renamed: the planned state is made again without their changes,
    # until no more are left alone (each time, only more can be).
    dropped: dict[str, set[str | None]] = {t.mapping.type: set() for t in types}
    while True:
        lookups = _lookups(with_refs, by_type, dropped)
        outcomes: dict[str, Outcome] = {}
        for t, p in zip(types, plans, strict=True):
            if reference_fields(t.mapping):
                everything = t.everything if t.everything is not None else t.destination
                outcomes[t.mapping.type] = plan_references(
                    t.mapping, t.source, everything, p.changes, lookups, edits=t.edits
                )
        more = {kind: out.dropped - dropped[kind] for kind, out in outcomes.items()}
        if not any(more.values()):
            break
        for kind, keys in more.items():
            dropped[kind] |= keys
    changes: list[Change] = []
    errors: list[RecordError] = []
    counts = PlanCounts()
    leading: list[str] = []  # each type's warnings about the whole type, first of all
    warnings: list[str] = []
    returned: dict[str, list[str]] = {}
    absent: dict[str, list[Record]] = {}
    for t, p in zip(types, plans, strict=True):
        errors += p.refused
        returned.update(p.returned)
        absent.update(p.absent)
        counts.unchanged += p.counts.unchanged
        counts.skipped += p.counts.skipped
        prefix = f"{t.mapping.type}: " if len(types) > 1 else ""
        leading += [prefix + w for w in p.warnings[: p.leading]]
        warnings += [prefix + w for w in p.warnings[p.leading :]]
        if not reference_fields(t.mapping):
            changes += p.changes
            continue
        everything = t.everything if t.everything is not None else t.destination
        out = outcomes[t.mapping.type]
        changes += out.changes + out.references
        if scoped:
            changes += follow_renames(
                t.mapping,
                t.source,
                everything,
                lookups,
                edits=t.edits,
                held=[f.held for f in t.failed if f.held is not None],
                outside=t.outside,
            )
        errors += out.errors
        counts.unchanged -= out.new_updates + out.were_unchanged
        counts.skipped += out.skipped
    count_changes(counts, changes)
    changes.sort(key=lambda c: (rank(c), _order.encode(c.match)))
    hashed = plan_hash(changes)
    return Plan(
        changes=changes,
        counts=counts,
        hash=hashed,
        warnings=[*leading, *warnings],
        leading=len(leading),
        returned=returned,
        absent=absent,
    ), errors


def _lookups(
    with_refs: Sequence[ObjectType],
    by_type: Mapping[str, tuple[ObjectType, Plan]],
    dropped: Mapping[str, Collection[str | None]],
) -> dict[tuple[str, str], Lookup]:
    """The planned state of each (type, field) a reference looks values up by: the type's
    objects after its plan, but for the changes of the objects left alone (`dropped`)."""
    lookups: dict[tuple[str, str], Lookup] = {}
    for t in with_refs:
        for f in reference_fields(t.mapping):
            assert f.resolve is not None
            wanted = (f.resolve.type, f.resolve.by)
            if wanted in lookups:
                continue
            target, its_plan = by_type[f.resolve.type]
            kept: Sequence[Change] = its_plan.changes
            if left := dropped[f.resolve.type]:
                keys, folded = target.mapping.keys, target.mapping.case_insensitive
                kept = [c for c in kept if match_key(c.match, keys, folded) not in left]
            everything = target.everything if target.everything is not None else target.destination
            by = f.resolve.by
            spell = partial(target.spell, by) if target.spell is not None else None
            folds = target.folds is not None and target.folds(by)
            lookups[wanted] = lookup(
                target.mapping, by, everything, kept, target.identify, target.rename, spell, folds
            )
    return lookups
