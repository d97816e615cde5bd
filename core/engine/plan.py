"""Planning: the changes that make the destination agree with the source.

Pure and deterministic (records in any order give the same plan and hash); inputs are
never mutated. Each side is indexed by key in one pass, then one sort: O(n log n).
Attribute policies (force, keep, merge) are in policies.py, the order of the changes
in phases.py, where new objects go in containers.py, what each kind of object gets in
planner.py, keys in keys.py.
"""

from __future__ import annotations

import collections
import hashlib
import itertools
from collections.abc import Callable, Iterable, Mapping, Sequence

import msgspec

from core.errors import BadInput
from schemas.jobs import ObjectMapping
from schemas.plan import Change, PlanCounts, RecordError
from schemas.values import Record

from .batching import split_batches
from .failures import Failure, Held
from .keys import case_clash, in_two_cases, key_shown, other_cases
from .lifecycle import Lifecycle, returned
from .planner import Planner
from .unique import Taken

_hash_encoder = msgspec.msgpack.Encoder(order="deterministic")
HASH_ENCODER = _hash_encoder
"""The encoder of `plan_hash` and `encoded_for_hash`, for loops that call it directly."""


class Plan(msgspec.Struct, frozen=True, kw_only=True):
    """The ordered changes of one run, their counts, their hash, and what looked wrong."""

    changes: Sequence[Change]
    """A list; for a large plan planned in little memory, changes read back from disk
    in order (services/runner/planning/spill.py)."""
    counts: PlanCounts
    hash: str
    warnings: list[str] = msgspec.field(default_factory=list)
    leading: int = 0
    """How many of `warnings`, first, say what the plan leaves undone for a whole type (its
    absent objects left alone, for a source record with values but no key): a plan of
    several types tells them before any other (objects.py)."""
    returned: dict[str, list[str]] = msgspec.field(default_factory=dict)
    """Object type → match keys of its objects found absent before, back in the source
    now, whose absences end as the run is planned (lifecycle.py `returned`)."""
    absent: dict[str, list[Record]] = msgspec.field(default_factory=dict)
    """Object type → the key values (each change's `match`) of the objects this plan
    deletes, disables or moves because the source holds no record of theirs
    (`on_destination_only`, the lifecycle's delete after `delete_after` included; not a
    leaver's, whose record the source holds): what a source whose whole read may miss a
    record confirms before the plan is acted on (services/runner/planning/absence.py).
    Not in the hash: it changes nothing the plan does."""
    refused: list[RecordError] = msgspec.field(default_factory=list)
    """The records whose create the destination refused before anything is sent (`plan`'s
    `refuses`): each fails alone; no change of theirs is in the plan."""

    def batches(self, max_changes: int, max_bytes: int) -> list[list[Change]]:
        return split_batches(self.changes, max_changes, max_bytes)


def plan_hash(changes: Sequence[Change]) -> str:
    """sha256 of the changes in msgpack, map keys sorted so field order never matters."""
    return hashlib.sha256(_hash_encoder.encode(changes)).hexdigest()


def encoded_for_hash(change: Change) -> bytes:
    """A change as `plan_hash` encodes it within the plan's list."""
    return _hash_encoder.encode(change)


class PlanHash:
    """`plan_hash` fed change by change (`encoded_for_hash`), for a plan too large to
    hold: the msgpack array's header for `count` changes, then each change in order."""

    def __init__(self, count: int) -> None:
        self._digest = hashlib.sha256(array_header(count))

    def update(self, encoded_change: bytes) -> None:
        self._digest.update(encoded_change)

    def update_all(self, encoded_changes: Iterable[bytes]) -> None:
        """`update` with each change in turn."""
        collections.deque(map(self._digest.update, encoded_changes), maxlen=0)

    def hexdigest(self) -> str:
        return self._digest.hexdigest()


def array_header(count: int) -> bytes:
    """The header msgpack gives an array of `count` items."""
    if count < 16:
        return bytes([0x90 | count])
    if count < 1 << 16:
        return b"\xdc" + count.to_bytes(2, "big")
    return b"\xdd" + count.to_bytes(4, "big")


def plan(
    source: Iterable[Record],
    destination: Iterable[Record],
    mapping: ObjectMapping,
    managed: Sequence[str],
    *,
    act_on_absence: bool = True,
    lifecycle: Lifecycle | None = None,
    failed: Sequence[Failure] = (),
    keyed_elsewhere: int = 0,
    taken: Taken | None = None,
    other_case: Mapping[str, str] | None = None,
    keys_fold: bool | None = None,
    every_case: bool = False,
    folds: Callable[[str], bool] | None = None,
    refuses: Callable[[Change], str | None] | None = None,
) -> Plan:
    """The changes that make `destination` agree with `source` (already mapped).

    Only `managed` fields are written; `create_only` ones only on create; on update each
    field follows its policy (policies.py). A create goes to the container of
    `containers.container_of` (a source record carries its own under `containers.CONTAINER_FIELD`),
    a move to the mapping's `move_to`. A run that cannot see every object (incremental,
    scoped to some keys) passes `act_on_absence=False`: destination-only objects are
    neither acted on nor counted. `lifecycle` (absence dates and the run's clock) turns
    absence into disable now, delete later, and restore (lifecycle.py). A `unique` field
    of a create gets a value free among `taken` (by default, those of `destination`) and
    the creates before it (unique.py).

    A failure never looks like absence: `failed` are the source records that failed
    before planning (a transformation, a script's skip): their objects are left as they
    are — unless a record mapped has one of their keys too: the source holds it twice,
    refused as two mapped records sharing a key are (`DuplicateKey`, naming the failed
    record as read; failures.py). A source record whose key
    cannot be read (several values, binary) could be any object, so with one nothing is
    done about absence at all; a source none of whose records has a key, while
    destination objects would look absent, is refused (a renamed key column must not
    empty the destination; `keyed_elsewhere` counts keyed source records a caller
    already dropped as unchanged, the low-memory planner).

    `keys_fold`: whether the destination compares keys without case (LDAP's uid, AD, a
    SQL column's collation), False where it compares them with case (a file), None
    where that is not known. A job comparing keys with case, where they fold, refuses
    two source records whose keys differ only in case as it refuses two sharing one
    (`DuplicateKey`): the destination holds both as one object, each run writing both
    into it; a run that cannot see every source record (`act_on_absence=False`) leaves
    out (skipped, with a warning) a create whose key an object holds in another case,
    for it cannot tell whether the source holds that one too — unless `every_case`: the
    source records given are all those of their keys in any case (a run scoped to
    keys). Unless they are known not to fold, it leaves alone (skipped, with a warning)
    an object found absent whose key the source holds in another case: the destination
    may hold the source's record in it, so the create lands on it and a delete would
    take it away. `other_case` adds the absent keys → source keys of such source
    records a caller did not pass (the low-memory planner's unchanged ones and spilled
    creates: `keys.other_cases`).

    `folds`: whether the destination compares a field's values without case (its
    `value_folds`): a field merged (`policy = "merge"`) adds no value it holds in
    another case (policies.py). `refuses`: why the destination refuses a create before
    it is sent (an entry its values put out of an LDAP destination's query), or None:
    such a record fails alone (`Plan.refused`), nothing planned for it.
    """
    if not mapping.keys:
        raise BadInput(f"the {mapping.type!r} mapping needs at least one key field")
    planner = Planner(mapping, managed, folds, refuses)
    planner.lifecycle = lifecycle
    if taken is None:
        taken = Taken(mapping)
        destination = taken.noting(destination)
    wanted = planner.index_source(source)
    held = Held(failed)
    if held and (twice := held.twice(wanted, planner.leaving)) is not None:
        record = wanted.get(twice) or planner.leaving.get(twice)
        raise held.refusal(twice, record, mapping.keys)
    if keys_fold and not mapping.case_insensitive:
        _refuse_two_cases(mapping, wanted, planner.leaving, held)
    found, ambiguous = planner.index_destination(destination)
    taken_in_case: Mapping[str, str] = {}
    if keys_fold and not (act_on_absence or every_case or mapping.case_insensitive):
        taken_in_case = _held_in_other_case(wanted, found, len(mapping.keys))
    unequal = planner.unequal(wanted, found)
    if not found and not ambiguous:  # no object: each record a create (a first run)
        planner.on_source_only_all(unequal)
        unequal = ()
    for key, record in unequal:
        if key in ambiguous:
            planner.counts.skipped += 1
        elif (existing := found.get(key)) is None:
            if (theirs := taken_in_case.get(key)) is not None:
                planner.held_in_other_case(record, key_shown(theirs, len(mapping.keys)))
            else:
                planner.on_source_only(key, record)
        else:
            planner.on_both(key, record, existing)
    for key, record in planner.leaving.items():  # seen, so acted on in every kind of run
        if key in ambiguous:
            planner.counts.skipped += 1
        elif (existing := found.get(key)) is None:
            planner.on_new_leaver(key, record)
        else:
            planner.on_leaver(key, existing)
    if act_on_absence:
        gone = planner.leaving.keys() | held.first.keys()
        absent = planner.absent(found, wanted, gone)
        if absent and mapping.on_destination_only != "skip":
            planner.blind_to_absence(len(absent), bool(wanted or keyed_elsewhere))
        if planner.unreadable or planner.unkeyed:  # any of them may be one of these
            planner.counts.skipped += len(absent)
        else:
            cased = (
                {}
                if keys_fold is False
                else _other_cases(planner, absent, wanted, held, other_case)
            )
            for key, record in absent:
                if (theirs := cased.get(key)) is not None:
                    planner.in_other_case(record, key_shown(theirs, len(mapping.keys)), keys_fold)
                else:
                    planner.on_destination_only(key, record)
        planner.counts.skipped += sum(1 for key in ambiguous if key not in wanted)
    if keys_back := returned(mapping, wanted, found, lifecycle, planner.leaving):
        planner.returned = {mapping.type: keys_back}
    taken.settle(
        (key, change.set) for _, key, change in planner.ranked if change.action == "create"
    )
    changes = planner.finish()
    return Plan(
        changes=changes,
        counts=planner.counts,
        hash=plan_hash(changes),
        warnings=planner.warnings,
        leading=planner.leading,
        returned=planner.returned,
        absent={mapping.type: planner.absences} if planner.absences else {},
        refused=planner.refused,
    )


def _refuse_two_cases(
    mapping: ObjectMapping,
    wanted: Mapping[str, Record],
    leaving: Mapping[str, Record],
    held: Held,
) -> None:
    """Refuse (`DuplicateKey`) the least two source records whose match keys (compared
    with case) differ only in case, mapped (`wanted`, `leaving`) or failed (`held`):
    a destination that compares keys without case holds them as one object."""
    keys = {*wanted, *leaving, *held}
    if (pair := case_clash(keys, len(mapping.keys))) is None:
        return

    def record_of(key: str) -> Record | None:
        if (record := wanted.get(key) or leaving.get(key)) is not None:
            return record
        return held.first[key].record if key in held else None

    raise in_two_cases(pair, mapping.keys, record_of)


def _held_in_other_case(
    wanted: Mapping[str, Record], found: Mapping[str, Record], fields: int
) -> dict[str, str]:
    """The keys of source records no object has that an object has in another case →
    the least such object's key (`plan`, for a destination comparing keys without case)."""
    objects = found.keys() - wanted.keys()
    creates = [key for key in wanted if key not in found]
    return {
        ours: theirs
        for theirs, ours in sorted(other_cases(objects, creates, fields).items(), reverse=True)
    }


def _other_cases(
    planner: Planner,
    absent: list[tuple[str, Record]],
    wanted: Mapping[str, Record],
    held: Held,
    known: Mapping[str, str] | None,
) -> dict[str, str]:
    """The absent objects' keys the source holds in another case → the source's key
    (`plan`); none where keys compare without case, or absence is not acted on."""
    mapping = planner.mapping
    if not absent or mapping.case_insensitive or mapping.on_destination_only == "skip":
        return {}
    source = itertools.chain(wanted, planner.leaving, held)
    return other_cases((key for key, _ in absent), source, len(mapping.keys), known)
