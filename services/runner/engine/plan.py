"""Planning: the changes that make the destination agree with the source.

Pure and deterministic (records in any order give the same plan and hash); inputs are
never mutated. Each side is indexed by key in one pass, then one sort: O(n log n).
Attribute policies (force, keep, merge) are in policies.py, the order of the changes
in phases.py, where new objects go in containers.py.
"""

from __future__ import annotations

import hashlib
import unicodedata
from collections.abc import Collection, Iterable, Sequence

import msgspec

from schemas.jobs import ObjectMapping, Policy
from schemas.plan import Action, Change, PlanCounts
from schemas.values import Record
from services.common.errors import BadInput

from .batching import split_batches
from .containers import container_of
from .lifecycle import LEAVER_FIELD, Lifecycle, leaver_container, on_absence, on_return, returned
from .mapping import present
from .phases import rank
from .policies import resolved
from .unique import Taken

KEY_SEPARATOR = " / "
# A broken source can produce a warning per record; the first ones say enough.
MAX_WARNINGS = 100

_hash_encoder = msgspec.msgpack.Encoder(order="deterministic")


class DuplicateKey(BadInput):
    """Two source records share a key: the plan cannot know which one is meant."""

    def __init__(self, key: str, first: Record, second: Record) -> None:
        self.key, self.first, self.second = key, first, second
        super().__init__(
            f"two source records have the key {key!r}: {_show(first)} and {_show(second)}; "
            "make the key unique in the source (or choose other key fields)"
        )


class Plan(msgspec.Struct, frozen=True, kw_only=True):
    """The ordered changes of one run, their counts, their hash, and what looked wrong."""

    changes: list[Change]
    counts: PlanCounts
    hash: str
    warnings: list[str] = msgspec.field(default_factory=list)
    returned: dict[str, list[str]] = msgspec.field(default_factory=dict)
    """Object type → match keys of its objects found absent before and back in the source
    now (lifecycle.py)."""

    def batches(self, max_changes: int, max_bytes: int) -> list[list[Change]]:
        return split_batches(self.changes, max_changes, max_bytes)


def match_key(record: Record, keys: Sequence[str], case_insensitive: bool) -> str | None:
    """The identity two records share when they are the same object; None when unusable.

    Key values compare in Unicode NFC without surrounding spaces (casefolded when
    `case_insensitive`); None when one is empty, multi-valued or binary. Opaque: show
    `display_key` instead.
    """
    if len(keys) == 1:  # the common case, on the hot path of every record
        return _key_part(record.get(keys[0]), case_insensitive)
    parts: list[str] = []
    for field in keys:
        part = _key_part(record.get(field), case_insensitive)
        if part is None:
            return None
        parts.append(part)
    # Length-prefixed so that no value, whatever it holds, makes two keys collide.
    return "".join([f"{len(part)}:{part}" for part in parts])


def _key_part(value: object, case_insensitive: bool) -> str | None:
    if not isinstance(value, str):
        return None
    if not value.isascii():  # ASCII text is already in NFC
        value = unicodedata.normalize("NFC", value)
    part = value.strip()
    if not part:
        return None
    if case_insensitive:
        # casefold can produce decomposed text (e.g. "İ"), so compose again.
        part = part.casefold()
        return part if part.isascii() else unicodedata.normalize("NFC", part)
    return part


def display_key(record: Record, keys: Sequence[str]) -> str:
    """The key values as people read them: "alice" or "sales / alice"."""
    if len(keys) == 1:
        return str(record.get(keys[0], ""))
    return KEY_SEPARATOR.join([str(record.get(field, "")) for field in keys])


def plan_hash(changes: Sequence[Change]) -> str:
    """sha256 of the changes in msgpack, map keys sorted so field order never matters."""
    return hashlib.sha256(_hash_encoder.encode(changes)).hexdigest()


def plan(
    source: Iterable[Record],
    destination: Iterable[Record],
    mapping: ObjectMapping,
    managed: Sequence[str],
    *,
    act_on_absence: bool = True,
    lifecycle: Lifecycle | None = None,
    held: Collection[str] = (),
    keyed_elsewhere: int = 0,
    taken: Taken | None = None,
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

    A failure never looks like absence: `held` are the match keys of source records that
    failed before planning (a transformation, a script's skip): their objects are left
    as they are. A source record whose key cannot be read (several values, binary) could
    be any object, so with one nothing is done about absence at all; a source none of
    whose records has a key, while destination objects would look absent, is refused (a
    renamed key column must not empty the destination; `keyed_elsewhere` counts keyed
    source records a caller already dropped as unchanged, the low-memory planner).
    """
    if not mapping.keys:
        raise BadInput(f"the {mapping.type!r} mapping needs at least one key field")
    planner = _Planner(mapping, managed)
    planner.lifecycle = lifecycle
    if taken is None:
        taken = Taken(mapping)
        destination = taken.noting(destination)
    wanted = planner.index_source(source)
    found, ambiguous = planner.index_destination(destination)
    for key, record in wanted.items():
        if key in ambiguous:
            planner.counts.skipped += 1
        elif (existing := found.get(key)) is None:
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
        gone = planner.leaving.keys() | held
        absent = [(k, r) for k, r in found.items() if k not in wanted and k not in gone]
        if absent and mapping.on_destination_only != "skip":
            planner.blind_to_absence(len(absent), bool(wanted or keyed_elsewhere))
        if planner.unreadable:
            planner.counts.skipped += len(absent)
        else:
            for key, record in absent:
                planner.on_destination_only(key, record)
        planner.counts.skipped += sum(1 for key in ambiguous if key not in wanted)
    if keys_back := returned(wanted, lifecycle):
        planner.returned = {mapping.type: keys_back}
    taken.settle(
        (key, change.set) for _, key, change in planner.ranked if change.action == "create"
    )
    return planner.result()


class _Planner:
    """The state of one planning pass: counts, warnings and the changes so far."""

    def __init__(self, mapping: ObjectMapping, managed: Sequence[str]) -> None:
        self.mapping = mapping
        self.keys = tuple(mapping.keys)
        create_only = {field.to for field in mapping.fields if field.create_only}
        self.written = tuple(dict.fromkeys([*self.keys, *managed]))
        self.compared = tuple(field for field in dict.fromkeys(managed) if field not in create_only)
        # Only fields that are not "force" need a look-up on the hot path of updates.
        self.policies: dict[str, Policy] = {
            field.to: field.policy for field in mapping.fields if field.policy != "force"
        }
        self.multi_valued = frozenset(field.to for field in mapping.fields if field.delimiter)
        self.counts = PlanCounts()
        self.warnings: list[str] = []
        self.warning_count = 0
        self.ranked: list[tuple[tuple[int, int, int, str, str], str, Change]] = []
        self.lifecycle: Lifecycle | None = None
        self.returned: dict[str, list[str]] = {}
        self.leaving: dict[str, Record] = {}
        """Source records of leavers (lifecycle.LEAVER_FIELD), by key."""
        self.keyless = 0
        """Source records without a key (empty, or unreadable)."""
        self.unreadable = 0
        """Source records whose key is there but cannot be read (several values, binary)."""

    def key_of(self, record: Record, side: str) -> str | None:
        key = match_key(record, self.keys, self.mapping.case_insensitive)
        if key is None:
            self.counts.skipped += 1
            self.keyless += side == "source"
            problem = f"empty key ({KEY_SEPARATOR.join(self.keys)})"
            for field in self.keys:
                if (value := record.get(field)) and not isinstance(value, str):
                    kind = "multi-valued" if isinstance(value, list) else "binary"
                    problem = f"{kind} key {field!r}"
                    self.unreadable += side == "source"
                    break
            self.warn(f"{side} record skipped, {problem}: {_show(record)}")
        return key

    def index_source(self, records: Iterable[Record]) -> dict[str, Record]:
        wanted: dict[str, Record] = {}
        for record in records:
            key = self.key_of(record, "source")
            if key is None:
                continue
            if (first := wanted.get(key) or self.leaving.get(key)) is not None:
                raise DuplicateKey(display_key(record, self.keys), first, record)
            if LEAVER_FIELD in record:
                self.leaving[key] = record
            else:
                wanted[key] = record
        return wanted

    def index_destination(self, records: Iterable[Record]) -> tuple[dict[str, Record], set[str]]:
        """Destination records by key, and the keys that more than one record holds."""
        found: dict[str, Record] = {}
        first_of: dict[str, Record] = {}
        for record in records:
            key = self.key_of(record, "destination")
            if key is None:
                continue
            if key in found:  # The second record with this key: neither may be touched.
                first_of[key] = found.pop(key)
            elif key not in first_of:
                found[key] = record
                continue
            first = first_of[key]
            self.warn(
                f"destination records share the key {display_key(first, self.keys)!r}, "
                f"none of them is changed: {_show(first)} and {_show(record)}"
            )
        return found, set(first_of)

    def blind_to_absence(self, absent: int, any_keyed: bool) -> None:
        """Refuse, or warn, when source records without a readable key make `absent`
        destination objects look absent: they may be those very objects."""
        if not any_keyed and self.keyless and not self.unreadable:
            fields = KEY_SEPARATOR.join(self.keys)
            raise BadInput(
                f"{self.mapping.type}: no source record has a value in the key field "
                f"({fields}), so none can be matched ({self.keyless} read) and all "
                f"{absent} destination objects would look absent: is the key field named "
                "differently in the source?"
            )
        if self.unreadable:
            self.warn(
                f"{self.unreadable} source records have a key that cannot be read (several "
                f"values, or binary): the {absent} destination objects missing from the "
                "source are left alone in this run"
            )

    def on_source_only(self, key: str, record: Record) -> None:
        if self.mapping.on_source_only != "create":
            self.counts.skipped += 1
            return
        values = {f: v for f in self.written if (v := present(record.get(f))) is not None}
        container = container_of(record, self.mapping)
        if container is None and self.mapping.container_from is not None:
            field = self.mapping.container_from
            self.warn(
                f"source record {display_key(record, self.keys)!r} has no container in "
                f"{field!r}: created where the destination puts objects by default"
            )
        self.add(key, "create", record, values=values, container=container)

    def on_both(self, key: str, record: Record, existing: Record) -> None:
        for back in on_return(self.mapping, self.lifecycle, key):
            moved_to = container_of(record, self.mapping) if back == "move" else None
            self.add(key, back, existing, container=moved_to)
        if self.mapping.on_both != "update":
            self.counts.skipped += 1
            return
        values: Record = {}
        clear: list[str] = []
        before: Record = {}
        policies = self.policies
        for field in self.compared:
            new, old = present(record.get(field)), present(existing.get(field))
            if field in policies:
                new = resolved(policies[field], old, new, field in self.multi_valued)
            if new != old:
                if new is None:
                    clear.append(field)
                else:
                    values[field] = new
                if old is not None:
                    before[field] = old
        if not values and not clear:
            self.counts.unchanged += 1
            return
        self.add(key, "update", existing, values=values, clear=sorted(clear), before=before)

    def on_destination_only(self, key: str, record: Record) -> None:
        action = on_absence(self.mapping, self.lifecycle, key)
        if action is None:
            self.counts.skipped += 1
        else:
            # check_job refuses a move without move_to; None leaves it to the provider.
            # A disable with move_to is disable-and-move (a provider that cannot move
            # a disabled object ignores it).
            moved_to = self.mapping.move_to if action in ("move", "disable") else None
            self.add(key, action, record, container=moved_to)

    def on_leaver(self, key: str, existing: Record) -> None:
        """A leaver's object: its action now (once: the lifecycle remembers), deleted after
        `delete_after`; its other fields are left as they are."""
        action = on_absence(self.mapping, self.lifecycle, key, leaving=True)
        if action is None:
            self.counts.skipped += 1
        else:
            moved_to = leaver_container(self.mapping) if action in ("move", "disable") else None
            self.add(key, action, existing, container=moved_to)

    def on_new_leaver(self, key: str, record: Record) -> None:
        """A leaver with no object: left out, or (`new = "create"`) created and given its
        action at once."""
        leavers = self.mapping.leavers
        if leavers is None or leavers.new == "skip" or self.mapping.on_source_only == "skip":
            self.counts.skipped += 1
            return
        self.on_source_only(key, record)
        if leavers.action != "delete":
            moved_to = leaver_container(self.mapping)
            self.add(key, leavers.action, record, container=moved_to, follow_up=True)

    def add(
        self,
        key: str,
        action: Action,
        found_by: Record,
        *,
        values: Record | None = None,
        clear: list[str] | None = None,
        before: Record | None = None,
        container: str | None = None,
        follow_up: bool = False,
    ) -> None:
        """A change to the object that `found_by` identifies (its key fields become `match`);
        a `follow_up` completes the object's own change and is counted with it."""
        change = Change(
            action=action,
            key=display_key(found_by, self.keys),
            match={field: found_by[field] for field in self.keys},
            set=values or {},
            clear=clear or [],
            before=before or {},
            object_type=self.mapping.type,
            container=container,
            follow_up=follow_up,
        )
        self.ranked.append((rank(change), key, change))
        if not follow_up:
            setattr(self.counts, action, getattr(self.counts, action) + 1)

    def warn(self, text: str) -> None:
        self.warning_count += 1
        if self.warning_count <= MAX_WARNINGS:
            self.warnings.append(text)

    def result(self) -> Plan:
        # Sorting by (phase, ..., key as shown, identity) makes the order independent of
        # input order.
        self.ranked.sort(key=lambda ranked: ranked[:2])
        changes = [ranked[2] for ranked in self.ranked]
        if self.warning_count > MAX_WARNINGS:
            self.warnings.append(f"... and {self.warning_count - MAX_WARNINGS} more warnings")
        hashed = plan_hash(changes)
        return Plan(
            changes=changes,
            counts=self.counts,
            hash=hashed,
            warnings=self.warnings,
            returned=self.returned,
        )


def _show(record: Record) -> str:
    return msgspec.json.encode(record, order="sorted").decode()
