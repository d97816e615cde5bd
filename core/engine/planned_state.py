"""The planned state of the destination: which objects a run leaves there, and their names.

Resolve looks values up here rather than in the destination as read, so that a manager
or a member created by the same run is found, and one the run deletes is not. Pure.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field

from schemas.jobs import ObjectMapping
from schemas.plan import Change
from schemas.values import Record

from .keys import display_key, match_key

ID_FIELD = "@id"
"""The field under which a provider gives each record it reads its identifier (an LDAP
DN) when the job has references; engine-only, never written or compared."""

Identify = Callable[[Change], str | None]
"""The identifier a create will give its object (an LDAP DN), None when the provider has
none but the key."""

Rename = Callable[[Change, str], str | None]
"""The identifier an object known as the given one has once a move or an update of it is
applied (an LDAP entry moved to another container, or renamed by a new value of its
naming attribute); None: it keeps the one it has."""


@dataclass(frozen=True)
class Target:
    """An object of the planned state that a value resolves to."""

    identifier: str
    created: bool
    """Created by this run: it exists only from the objects phase on."""
    moved: bool = False
    """Moved or renamed by this run: it has this identifier only once the objects phase
    (a rename is an update) and the moves phase are done."""


@dataclass
class Lookup:
    """The objects of one type, by the value of one field. None: several share it."""

    type: str
    by: str
    case_insensitive: bool
    found: dict[str, Target | None] = field(default_factory=dict)
    deleted: set[str] = field(default_factory=set)
    """The `by` values of objects this run deletes: a value naming one names an object
    leaving, not one that could not be found."""
    renamed: dict[str, str] = field(default_factory=dict)
    """Identifier an existing object was read with → the one this run gives it (a move,
    a rename): what references to it outside a run's scope must follow."""
    removed: set[str] = field(default_factory=set)
    """Identifiers of the objects this run deletes: what references to them outside a
    run's scope must let go."""
    spell: Callable[[str], str] | None = None
    """A value as the destination holds it in `by` (its `canonical`: "042" is 42 in a
    column of integers), as the objects' values are: looked up so."""
    is_key: bool = False
    """`by` is a key of the type (its `case_insensitive` then folds the values)."""
    _folded: dict[str, str] | None = field(default=None, repr=False, compare=False)
    """The values found by their casefold, made on the first value not found: what a
    value that differs in case alone names (`_in_other_case`)."""

    def _key(self, value: str) -> str | None:
        spelled = self.spell(value) if self.spell is not None else value
        return match_key({self.by: spelled}, (self.by,), self.case_insensitive)

    def deletes(self, value: str) -> bool:
        """Whether `value` names nothing because this run deletes what it named."""
        key = self._key(value)
        return key is not None and key not in self.found and key in self.deleted

    def resolve(self, value: str) -> Target | str:
        """The object `value` names, or the reason there is none (a text)."""
        key = self._key(value)
        if key is None:
            return f"an empty {self.by}"
        if key not in self.found:
            missing = f"no {self.type} with {self.by} {value!r} in the destination or this run"
            return missing + self._in_other_case(key)
        target = self.found[key]
        if target is None:
            return f"several {self.type} objects have {self.by} {value!r}; none is used"
        return target

    def _in_other_case(self, key: str) -> str:
        """What to fix where a value matched without case names an object: its value, and
        how the job matches it (nothing where none does)."""
        if self.case_insensitive:
            return ""
        if self._folded is None:
            self._folded = {}
            for found in self.found:
                self._folded.setdefault(found.casefold(), found)
        other = self._folded.get(key.casefold())
        if other is None:
            return ""
        by = self.by
        if self.is_key:
            how = f'case_insensitive = true on type "{self.type}" matches it without'
        else:
            how = "write the value as the destination holds it"
        return f" (one has {by} {other!r}: {by} is matched with case; {how})"


def lookup(
    mapping: ObjectMapping,
    by: str,
    destination: Iterable[Record],
    changes: Sequence[Change],
    identify: Identify | None,
    rename: Rename | None = None,
    spell: Callable[[str], str] | None = None,
    folds: bool = False,
) -> Lookup:
    """The objects of `mapping`'s type after `changes` (its objects-phase plan), by `by`.

    Existing objects keep the identifier they were read with (`ID_FIELD`, else their key
    as shown); updates may change their `by` value; deleted ones are gone; created and
    moved ones are named as the provider will name them (`identify`); so are renamed ones
    (`rename`: an object moved, or updated in what names it, keeps no identifier it had,
    and one object may be both — each of its changes names it in turn). `spell`: a value
    looked up as the destination holds it in `by`; `folds`: the destination holds values
    of `by` that differ in case alone equal (a citext column), looked up without case.
    """
    keys, folded = mapping.keys, mapping.case_insensitive
    by_key: dict[object, list[Change]] = {}
    for change in changes:
        by_key.setdefault(match_key(change.match, keys, folded), []).append(change)
    is_key = by in keys
    folding = (folded if is_key else False) or folds
    result = Lookup(mapping.type, by, folding, spell=spell, is_key=is_key)
    for record in destination:
        its = by_key.pop(match_key(record, keys, folded), [])
        if any(change.action == "delete" for change in its):
            result.deleted.update(_by_values(record, by, result.case_insensitive))
            known = record.get(ID_FIELD)
            result.removed.add(known if isinstance(known, str) else display_key(record, keys))
            continue
        planned = dict(record)
        for change in its:
            if change.action in ("create", "update"):
                planned.update(change.set)
                for cleared in change.clear:
                    planned.pop(cleared, None)
        known = planned.get(ID_FIELD)
        name = known if isinstance(known, str) else display_key(record, keys)
        moves = any(change.action == "move" for change in its)
        name = _named(name, its, identify, rename if isinstance(known, str) else None)
        renamed = isinstance(known, str) and name != known
        if renamed:
            result.renamed[str(known)] = name
        _add(result, planned, Target(name, False, moved=moves or renamed))
    for its in by_key.values():
        create = next((change for change in its if change.action == "create"), None)
        if create is None:
            continue
        given = identify(create) if identify is not None else None
        # A new leaver may be moved at once (where leavers go): named where it goes.
        renames = rename if given is not None else None
        name = _named(given or display_key(create.match, keys), its, identify, renames)
        _add(result, {**create.match, **create.set}, Target(name, True))
    return result


def _named(
    name: str, its: Sequence[Change], identify: Identify | None, rename: Rename | None
) -> str:
    """The identifier of the object known as `name` once its changes (`its`, in the
    plan's order; a create names it already) are applied: each move or update renames it
    in turn (`rename`), else a move names it where the moves phase puts it (`identify`)."""
    for change in its:
        if rename is not None:
            if change.action in ("move", "update"):
                name = rename(change, name) or name
        elif change.action == "move" and identify is not None:
            name = identify(change) or name
    return name


def _add(into: Lookup, record: Record, target: Target) -> None:
    if record.get(into.by).__class__ is list:
        keys = _by_values(record, into.by, into.case_insensitive)
    elif (key := match_key(record, (into.by,), into.case_insensitive)) is not None:
        keys = [key]
    else:
        return
    found = into.found
    for key in keys:
        found[key] = None if key in found else target


def _by_values(record: Record, by: str, case_insensitive: bool) -> list[str]:
    """The values an object is looked up by: its `by` as a key is matched, or each of its
    values where it holds several (a person's mail addresses), each once."""
    value = record.get(by)
    if not isinstance(value, list):
        key = match_key(record, (by,), case_insensitive)
        return [] if key is None else [key]
    found = (match_key({by: item}, (by,), case_insensitive) for item in value)
    return list(dict.fromkeys(key for key in found if key is not None))
