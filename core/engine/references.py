"""References: fields whose values name other objects (a manager, a group's members).

Each value is resolved against the planned state (planned_state.py) to the named
object's identifier. What an object can be written with at once — values naming
objects that exist before the run, where they are — goes into its create; the rest is
written in the references phase, once every object exists under its new name (after
creates, renames and moves: Active Directory refuses a member DN naming no entry).
Multi-valued fields change by adding and removing values, never by rewriting the list,
so one member more in a group of 50,000 is one value sent. A value that names nothing
is that record's error (members are matched, never created); the rest of the record
applies. Pure.
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
from dataclasses import dataclass, field

import msgspec

from schemas.jobs import FieldMap, ObjectMapping
from schemas.plan import Change, RecordError
from schemas.values import Record, Value

from .containers import container_form
from .keys import display_key, match_key
from .lifecycle import LEAVER_FIELD
from .planned_state import Lookup, Target

VALUES_PER_CHANGE = 2_000
"""Values a change adds or removes at most (about 100 KB of DNs): a plan's batches stay
under the work queue's message size, however large a group."""


def reference_fields(mapping: ObjectMapping) -> list[FieldMap]:
    return [f for f in mapping.fields if f.resolve is not None]


@dataclass
class Outcome:
    """What resolving one type's references did to its plan."""

    changes: list[Change] = field(default_factory=list)
    """The objects-phase changes, with resolvable values put into creates."""
    references: list[Change] = field(default_factory=list)
    errors: list[RecordError] = field(default_factory=list)
    skipped: int = 0
    """Objects left alone because a field resolved to nothing (`if_none = "skip"`)."""
    new_updates: int = 0
    """Objects unchanged but for their references: now counted as updated."""
    were_unchanged: int = 0
    """Skipped objects that the objects phase had counted unchanged."""
    dropped: set[str | None] = field(default_factory=set)
    """Match keys of the objects skipped so: their changes are not in `changes`."""


@dataclass
class _Resolved:
    before: list[Target] = field(default_factory=list)  # exist before the run
    during: list[Target] = field(default_factory=list)  # created, moved or renamed by it
    problems: list[str] = field(default_factory=list)
    """Values that failed to resolve: the field keeps what it holds."""
    gone: list[str] = field(default_factory=list)
    """Values naming objects this run deletes: reported, and let go."""

    @property
    def names(self) -> list[str]:
        return [t.identifier for t in (*self.before, *self.during)]


def plan_references(
    mapping: ObjectMapping,
    source: Sequence[Record],
    destination: Sequence[Record],
    changes: Sequence[Change],
    lookups: dict[tuple[str, str], Lookup],
    *,
    edits: bool = True,
) -> Outcome:
    """Resolve the reference fields of `mapping`'s source records; `changes` is its
    objects-phase plan (made without those fields), `lookups` by (type, by). Without
    `edits` (a destination that cannot add or remove values: one column holds the list)
    multi-valued references are set whole."""
    refs = reference_fields(mapping)
    keys, folded = mapping.keys, mapping.case_insensitive
    planned: dict[str | None, list[Change]] = {}  # an object may have several (a restore)
    for c in changes:
        planned.setdefault(match_key(c.match, keys, folded), []).append(c)
    found: dict[str | None, Record] = {}
    for record in destination:
        key = match_key(record, keys, folded)
        found[key] = {} if key in found else record  # {}: shared key, left alone
    out = Outcome()
    dropped: set[str | None] = set()
    for record in source:
        key = match_key(record, keys, folded)
        own = planned.get(key, [])
        change = next((c for c in own if c.action in ("create", "update")), None)
        existing = found.get(key)
        creates = change is not None and change.action == "create"
        if key is None or not (creates or (existing and mapping.on_both == "update")):
            continue  # no object, or one the job leaves alone: nothing to resolve for
        if LEAVER_FIELD in record and existing:
            continue  # a leaver's object is only disabled, moved or deleted
        resolved = {f.to: _resolve(record.get(f.to), f, lookups) for f in refs}
        # The object's key as its changes show it (an existing object's own spelling).
        shown = display_key(existing or record, keys)
        kind = mapping.type
        for name, r in resolved.items():
            out.errors += [
                RecordError(key=shown, action="resolve", message=f"{name}: {p}", object_type=kind)
                for p in [*r.problems, *r.gone]
            ]
        # Nothing to name, or only values that fail (not objects leaving: let go, as in
        # a run that reads some records only, `follow_renames`).
        empty = [f for f in refs if _skips(f) and _names_none(resolved[f.to])]
        if empty:
            dropped.add(key)
            out.skipped += 1
            out.were_unchanged += not own  # one with a change of its own was counted so
            text = f'{empty[0].to}: no value resolves; the object is skipped (if_none = "skip")'
            skip = RecordError(
                key=shown, action="resolve", message=text, object_type=kind, skipped=True
            )
            out.errors.append(skip)
            continue
        if creates:
            assert change is not None
            created, follow = _create(change, refs, resolved)
            own[own.index(change)] = created
            if follow is not None:
                out.references += chunks(follow) if edits else [whole(follow, created.set)]
        elif existing:
            update = _update(bool(own), existing, refs, resolved, mapping.type, keys)
            if update is not None:
                out.references += chunks(update) if edits else [whole(update, existing)]
                out.new_updates += 0 if update.follow_up else 1
    out.changes = [c for k, own in planned.items() if k not in dropped for c in own]
    out.dropped = dropped
    return out


def follow_renames(
    mapping: ObjectMapping,
    source: Sequence[Record],
    destination: Sequence[Record],
    lookups: dict[tuple[str, str], Lookup],
    *,
    edits: bool = True,
    held: Collection[str] = (),
    outside: Sequence[Record] = (),
) -> list[Change]:
    """For a run that reads some records only (scoped to keys, incremental): the objects
    outside its scope (no record of theirs in `source`, nor one that failed: `held`, match
    keys, as a whole run holds them) whose references name an object the run moves,
    renames or deletes, made to name it as it will be — or no more, the placeholder
    written where nothing else is left — and, for those whose source records (`outside`:
    the records out of a scoped run's scope) name an object the run creates, made to name
    it too: as a whole run on the same data does, whose records of them resolve to the
    new name, to an object leaving, or to the new object. The fields' policies apply as
    there (`keep` holds what it has, `merge` removes nothing); nothing else of theirs
    changes; nor anything where the job never updates them (`on_both = "skip"`)."""
    if mapping.on_both != "update":
        return []
    refs = reference_fields(mapping)
    # Per field, the names the run changes (folded): old → new, and those it removes.
    followed: dict[str, tuple[dict[str, str], set[str]]] = {}
    for f in refs:
        assert f.resolve is not None
        table = lookups[(f.resolve.type, f.resolve.by)]
        if table.renamed or table.removed:
            renamed = {_fold(old): new for old, new in table.renamed.items()}
            followed[f.to] = (renamed, {_fold(name) for name in table.removed})
    wanted_of = _outside(mapping, outside)
    if not followed and not wanted_of:
        return []
    keys, folded = mapping.keys, mapping.case_insensitive
    inside = {match_key(record, keys, folded) for record in source} | set(held)
    out: list[Change] = []
    for record in destination:
        key = match_key(record, keys, folded)
        if key is None or key in inside:
            continue
        theirs = wanted_of.get(key)
        if theirs is None and not any(f.to in record for f in refs):
            continue
        values: Record = {}
        clear: list[str] = []
        add: dict[str, list[str]] = {}
        remove: dict[str, list[str]] = {}
        for f in refs:
            assert f.resolve is not None
            renamed, removed = followed.get(f.to, ({}, set()))
            current = record.get(f.to)
            there = (
                current
                if isinstance(current, list)
                else [current]
                if isinstance(current, str)
                else []
            )
            made = _created(theirs, f, lookups, there) if theirs is not None else []
            news: dict[str, str] = {}
            gone: set[str] = set()
            if there and f.policy != "keep":
                news = {v: renamed[_fold(v)] for v in there if _fold(v) in renamed}
                gone = {v for v in there if _fold(v) in removed}
            if not news and not gone and not made:
                continue
            # The values its record resolves to in a whole run: what it holds, named anew,
            # without the objects deleted, with the objects created that it names; the
            # field then changes as `_update` changes it.
            names = [news.get(v, v) for v in there if v not in gone]
            named = {_fold(v) for v in names}
            names += [v for v in made if _fold(v) not in named]
            placeholder = f.resolve.placeholder
            if placeholder is not None and made:
                # the placeholder it held while it named nothing that existed: a whole run
                # writes the object it names now instead
                names = [v for v in names if not _same_name(v, placeholder)]
            wanted = names or ([placeholder] if placeholder is not None else [])
            if f.delimiter is None:
                first = made[:1] or wanted[:1]
                if first:
                    values[f.to] = first[0]
                else:
                    clear.append(f.to)
                continue
            plus, minus = _differing(wanted, there, keeps=f.policy == "merge")
            if not plus and not minus:
                continue
            if not edits:
                kept = [v for v in there if v not in minus] + plus
                if kept:
                    values[f.to] = kept
                else:
                    clear.append(f.to)
                continue
            if plus:
                add[f.to] = plus
            if minus:
                remove[f.to] = minus
        if values or clear or add or remove:
            follow = Change(
                action="update",
                key=display_key(record, keys),
                match={k: record[k] for k in keys},
                set=values,
                clear=tuple(clear),
                add=add,
                remove=remove,
                before={f.to: record[f.to] for f in refs if f.to in record},
                object_type=mapping.type,
                phase="references",
            )
            out += chunks(follow)  # a large group's members follow in parts
    return out


def _outside(mapping: ObjectMapping, records: Sequence[Record]) -> dict[str, Record]:
    """The records out of a scoped run's scope by key: those a whole run would resolve
    the references of (not leavers; a key held once)."""
    keys, folded = mapping.keys, mapping.case_insensitive
    found: dict[str, Record] = {}
    twice: set[str] = set()
    for record in records:
        key = match_key(record, keys, folded)
        if key is None or LEAVER_FIELD in record:
            continue
        if key in found:
            twice.add(key)
        found[key] = record
    for key in twice:
        del found[key]
    return found


def _created(
    record: Record, fmap: FieldMap, lookups: dict[tuple[str, str], Lookup], there: list[str]
) -> list[str]:
    """The values of `fmap` in an out-of-scope object's source `record` that name objects
    the run creates, which a whole run would write and the object does not hold — as
    `_update` writes them (a `keep` field that holds a value is left alone)."""
    if fmap.policy == "keep" and there:
        return []
    resolved = _resolve(record.get(fmap.to), fmap, lookups)
    made = [t.identifier for t in resolved.during if t.created]
    if not made:
        return []
    if fmap.delimiter is None:
        # a single value: the one a whole run writes, when that names a new object
        first = resolved.names[:1]
        if resolved.problems or first != made[:1] or _same(first, there[:1]):
            return []
        return first
    have = {_fold(v) for v in there}
    return [v for v in dict.fromkeys(made) if _fold(v) not in have]


def _names_none(resolved: _Resolved) -> bool:
    """No value names an object, and some fail or there are none: not all the values
    name objects the run deletes (those are let go)."""
    return not resolved.names and (bool(resolved.problems) or not resolved.gone)


def _skips(fmap: FieldMap) -> bool:
    assert fmap.resolve is not None
    return fmap.resolve.if_none == "skip" and fmap.resolve.placeholder is None


def _resolve(
    value: Value | None, fmap: FieldMap, lookups: dict[tuple[str, str], Lookup]
) -> _Resolved:
    assert fmap.resolve is not None
    table = lookups[(fmap.resolve.type, fmap.resolve.by)]
    items = value if isinstance(value, list) else [value] if isinstance(value, str) else []
    out = _Resolved()
    for item in items:
        target = table.resolve(item)
        if isinstance(target, str):
            if table.deletes(item):
                out.gone.append(f"the {table.type} with {table.by} {item!r} leaves in this run")
            else:
                out.problems.append(target)
        elif target is not None:
            # Named so only from a later phase on: written in the references phase.
            (out.during if target.created or target.moved else out.before).append(target)
    return out


def _create(
    change: Change, refs: list[FieldMap], resolved: dict[str, _Resolved]
) -> tuple[Change, Change | None]:
    """The create with what can be written at once; the rest as a follow-up change."""
    values = dict(change.set)
    add: dict[str, list[str]] = {}
    remove: dict[str, list[str]] = {}
    later: Record = {}
    for f in refs:
        assert f.resolve is not None
        now = [t.identifier for t in resolved[f.to].before]
        then = [t.identifier for t in resolved[f.to].during]
        if f.delimiter is not None and len(now) > VALUES_PER_CHANGE:  # a new large group
            now, then = now[:VALUES_PER_CHANGE], now[VALUES_PER_CHANGE:] + then
        placeholder = f.resolve.placeholder
        if not now and placeholder is not None:
            now = [placeholder]
            if then and f.delimiter is not None:
                remove[f.to] = [placeholder]
        if now:
            values[f.to] = now if f.delimiter is not None else now[0]
        if then and f.delimiter is not None:
            add[f.to] = then
        elif then and f.delimiter is None and not resolved[f.to].before:
            later[f.to] = then[0]  # a placeholder (if any) until the object exists
    created = msgspec.structs.replace(change, set=values)
    if not add and not later:
        return created, None
    follow = Change(
        action="update",
        key=change.key,
        match=change.match,
        set=later,
        add=add,
        remove=remove,
        object_type=change.object_type,
        phase="references",
        follow_up=True,
    )
    return created, follow


def _update(
    follows: bool,
    existing: Record,
    refs: list[FieldMap],
    resolved: dict[str, _Resolved],
    object_type: str,
    keys: Sequence[str],
) -> Change | None:
    """What makes an existing object's references agree: values added and removed;
    `follows` a change of the object's own (an update, a restore), counted with it."""
    values: Record = {}
    clear: list[str] = []
    add: dict[str, list[str]] = {}
    remove: dict[str, list[str]] = {}
    before: Record = {}
    for f in refs:
        assert f.resolve is not None
        # A value that did not resolve (nothing found, or several objects) is a failure,
        # not a value gone: what the field holds stays, only what resolved is added. (One
        # naming an object this run deletes is gone: the field agrees without it.)
        failed = bool(resolved[f.to].problems)
        names = resolved[f.to].names
        wanted = names or ([f.resolve.placeholder] if f.resolve.placeholder and not failed else [])
        current = existing.get(f.to)
        there = (
            current if isinstance(current, list) else [current] if isinstance(current, str) else []
        )
        if f.policy == "keep" and there:
            continue
        if f.delimiter is None:
            if failed or _same(wanted[:1], there[:1]):
                continue
            if wanted:
                values[f.to] = wanted[0]
            else:
                clear.append(f.to)
        else:
            plus, minus = _differing(wanted, there, keeps=f.policy == "merge" or failed)
            if not plus and not minus:
                continue
            if plus:
                add[f.to] = plus
            if minus:
                remove[f.to] = minus
        if current is not None:
            before[f.to] = current
    if not (values or clear or add or remove):
        return None
    return Change(
        action="update",
        key=display_key(existing, keys),
        match={k: existing[k] for k in keys},
        set=values,
        clear=tuple(clear),
        add=add,
        remove=remove,
        before=before,
        object_type=object_type,
        phase="references",
        follow_up=follows,
    )


def _fold(value: str) -> str:
    """Identifiers folded as most compare: without regard to case or surrounding spaces
    (quick; `_same_name` compares them as DNs where this says they differ)."""
    return value.strip().casefold()


def _same_name(a: str, b: str) -> bool:
    """Whether two identifiers name one object: as DNs compare (`container_form`: case,
    spaces and escaping aside — `cn=No\\, Body, dc=x` is `cn=No\\2C Body,dc=x`)."""
    return _fold(a) == _fold(b) or container_form(a) == container_form(b)


def _same(a: list[str], b: list[str]) -> bool:
    return len(a) == len(b) and all(map(_same_name, a, b))


def _differing(
    wanted: Sequence[str], there: Sequence[str], *, keeps: bool
) -> tuple[list[str], list[str]]:
    """The values to add to a multi-valued reference holding `there` so that it holds
    `wanted`, and to remove (none where it `keeps` what it has), names compared as
    `_same_name` compares them: folded first, the few that differ so then as DNs."""
    have, want = {_fold(v) for v in there}, {_fold(v) for v in wanted}
    plus = [v for v in dict.fromkeys(wanted) if _fold(v) not in have]
    loose = [v for v in there if _fold(v) not in want]
    if plus and loose:  # spelled otherwise, perhaps: as DNs
        held = {container_form(v) for v in loose}
        named = {container_form(v) for v in plus}
        plus = [v for v in plus if container_form(v) not in held]
        loose = [v for v in loose if container_form(v) not in named]
    return plus, [] if keeps else loose


def whole(change: Change, base: Record) -> Change:
    """The change with its values added and removed turned into whole lists, from the
    values `base` holds."""
    values = dict(change.set)
    clear = list(change.clear)
    for name in dict.fromkeys([*change.add, *change.remove]):
        there = base.get(name)
        items = there if isinstance(there, list) else [there] if isinstance(there, str) else []
        gone = {_fold(v) for v in change.remove.get(name, [])}
        kept = [v for v in items if _fold(v) not in gone] + change.add.get(name, [])
        if kept:
            values[name] = kept
        else:
            clear.append(name)
    return msgspec.structs.replace(change, set=values, clear=tuple(clear), add={}, remove={})


def chunks(change: Change) -> list[Change]:
    """The change, with at most VALUES_PER_CHANGE values added or removed in each part;
    the parts after the first are follow-ups (the object is counted once)."""
    edits = [("add", name, v) for name, vs in change.add.items() for v in vs]
    edits += [("remove", name, v) for name, vs in change.remove.items() for v in vs]
    if len(edits) <= VALUES_PER_CHANGE:
        return [change]
    parts: list[Change] = []
    for start in range(0, len(edits), VALUES_PER_CHANGE):
        add: dict[str, list[str]] = {}
        remove: dict[str, list[str]] = {}
        for kind, name, value in edits[start : start + VALUES_PER_CHANGE]:
            (add if kind == "add" else remove).setdefault(name, []).append(value)
        if start == 0:
            parts.append(msgspec.structs.replace(change, add=add, remove=remove))
        else:
            parts.append(
                msgspec.structs.replace(
                    change, set={}, clear=(), before={}, add=add, remove=remove, follow_up=True
                )
            )
    return parts
