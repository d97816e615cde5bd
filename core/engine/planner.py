"""One planning pass (plan.py's `plan`): the counts, the warnings and the changes so far,
and what each kind of object gets — source only, on both sides, destination only,
leaving."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence, Set
from itertools import chain, compress, repeat
from operator import contains, eq, not_
from typing import cast

from core.errors import BadInput
from core.run_texts import more_like, warning_kind
from schemas.jobs import ObjectMapping, Policy
from schemas.plan import Action, Change, PlanCounts, RecordError
from schemas.values import Record

from .containers import CONTAINER_FIELD, container_of, follows_container, same_container
from .counting import count_once
from .keys import KEY_SEPARATOR, DuplicateKey, display_key, match_key, shown
from .lifecycle import LEAVER_FIELD, Lifecycle, leaver_container, on_absence, on_return
from .mapping import filled, present
from .phases import rank
from .policies import resolved

# A broken source can produce a warning per record; the first ones say enough.
MAX_WARNINGS = 100


class Planner:
    """The state of one planning pass: counts, warnings and the changes so far."""

    def __init__(
        self,
        mapping: ObjectMapping,
        managed: Sequence[str],
        folds: Callable[[str], bool] | None = None,
        refuses: Callable[[Change], str | None] | None = None,
    ) -> None:
        self.mapping = mapping
        self.refuses = refuses
        """Why the destination refuses a create before it is sent (an LDAP entry its
        values put out of the destination's query), or None: the record fails alone."""
        self.refused: list[RecordError] = []
        self.keys = tuple(mapping.keys)
        self.single = self.keys[0] if len(self.keys) == 1 and not mapping.case_insensitive else None
        """The one key field, when keys compare with case: `key_of`'s quick way."""
        create_only = {field.to for field in mapping.fields if field.create_only}
        self.written = tuple(dict.fromkeys([*self.keys, *managed]))
        self.compared = tuple(field for field in dict.fromkeys(managed) if field not in create_only)
        # Only fields that are not "force" need a look-up on the hot path of updates.
        self.policies: dict[str, Policy] = {
            field.to: field.policy for field in mapping.fields if field.policy != "force"
        }
        self.multi_valued = frozenset(field.to for field in mapping.fields if field.delimiter)
        self.folded = frozenset(
            field
            for field, policy in self.policies.items()
            if policy == "merge" and folds is not None and folds(field)
        )
        """The merged fields whose values the destination compares without case
        (`folds`: its `value_folds`): merged as it compares them (policies.py)."""
        self.follows_container = follows_container(mapping)
        """Objects on both sides go to the container their source record names."""
        # Fields without a policy are unchanged when equal on both sides: compared at
        # once (in C), the per-field loop left for records that differ and for policies.
        self.plain = tuple(field for field in self.compared if field not in self.policies)
        self.with_policy = tuple(field for field in self.compared if field in self.policies)
        self.counts = PlanCounts()
        self.warnings: list[str] = []
        self.warning_count = 0
        self.leading = 0
        self.more_like: dict[str, int] = {}
        """Warnings past the `MAX_WARNINGS` kept, of a kind among them: how many of each."""
        self.more = 0
        """Warnings past those kept, of no kind among them."""
        self._kinds: set[str] | None = None
        """How many of `warnings`, first, are about the whole type (`blind_to_absence`)."""
        self.ranked: list[tuple[tuple[int, int, int, str, str], str, Change]] = []
        self.lifecycle: Lifecycle | None = None
        self.returned: dict[str, list[str]] = {}
        self.absences: list[Record] = []
        """The key values of the objects acted on because the source holds no record of
        theirs (`Plan.absent`)."""
        self.leaving: dict[str, Record] = {}
        """Source records of leavers (lifecycle.LEAVER_FIELD), by key."""
        self.keyless = 0
        """Source records without a key (empty, or unreadable)."""
        self.unreadable = 0
        """Source records whose key is there but cannot be read (several values, binary)."""
        self.unkeyed = 0
        """Source records with values but none in a key field (a NULL key in a table): any
        object could be theirs."""
        self.matched: tuple[dict[str, Record], dict[str, Record], int] | None = None
        """`unequal`'s source and objects by key, and how many of the source's keys it
        found among the objects."""

    def key_of(self, record: Record, side: str) -> str | None:
        if self.single is not None:  # one key compared with case: ASCII text is its key
            value = record.get(self.single)
            if value.__class__ is str and value.isascii() and (part := value.strip()):
                return part
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
            else:  # values, not spaces alone (a sheet's or a file's blank row)
                self.unkeyed += side == "source" and any(map(filled, record.values()))
            self.warn(f"{side} record skipped, {problem}: {shown(record)}")
        return key

    def quick_keys(self, records: Iterable[Record]) -> list[str] | None:
        """Every record's key at once, where `key_of`'s quick way reads each one (one key
        compared with case, ASCII text around something other than spaces); else None,
        for `key_of` to read them one by one (and warn of those it skips)."""
        if self.single is None or not isinstance(records, list):
            return None
        found = list(map(dict.get, records, repeat(self.single)))
        try:  # every value text (a subclass too: `key_of` gives it the same key), at once
            joined = "".join(cast(list[str], found))
        except TypeError:  # none, a list or binary somewhere: one by one
            return None
        if not joined.isascii():
            return None
        keys = list(map(str.strip, cast(list[str], found)))
        return keys if all(keys) else None

    def index_source(self, records: Iterable[Record]) -> dict[str, Record]:
        keys = self.quick_keys(records)
        wanted: dict[str, Record]
        if (
            keys is not None
            and not self.leaving
            and not any(map(contains, cast(list[Record], records), repeat(LEAVER_FIELD)))
            and len(wanted := dict(zip(keys, cast(list[Record], records), strict=True)))
            == len(keys)
        ):
            return wanted  # no key twice, no leaver: what the loop below gives
        wanted = {}
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
        keys = self.quick_keys(records)
        if keys is not None:
            found = dict(zip(keys, cast(list[Record], records), strict=True))
            if len(found) == len(keys):
                return found, set()  # no key twice: what the loop below gives
        found = {}
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
                f"none of them is changed: {shown(first)} and {shown(record)}"
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
        if not (self.unreadable or self.unkeyed):
            return
        fields = KEY_SEPARATOR.join(self.keys)
        if self.unreadable:
            records = _counted(self.unreadable, "source record")
            why = f"{'has' if self.unreadable == 1 else 'have'} a key that cannot be read "
            why += f"(several values, or binary: {fields})"
            fix = "give each record one text key in the source"
        else:
            records = _counted(self.unkeyed, "source record")
            why = f"{'has' if self.unkeyed == 1 else 'have'} values but an empty key ({fields})"
            fix = (
                "give each record a key in the source, or leave such records out of its "
                f"scope: {self.keyed_only()}"
            )
        they = "it" if (self.unreadable or self.unkeyed) == 1 else "they"
        done = _DONE.get(self.mapping.on_destination_only, "changed")
        # First, and whatever the warnings about single records: it says why no absent
        # object is acted on, and what to fix.
        self.leading += 1
        self.warnings.insert(
            0,
            f"{records} {why}: {they} could be the {_counted(absent, 'destination object')} "
            f"missing from the source, so none is {done} in this run; {fix}",
        )

    def keyed_only(self) -> str:
        """The source's `where` that leaves out its records without a key, as a job says
        it (its key's source field, for a job of one key), for a warning to show."""
        if len(self.keys) != 1:
            return "the source's `where`"
        sources = {field.to: field.source for field in self.mapping.fields}
        field = sources.get(self.keys[0], self.keys[0])
        return f'where = {{ field = "{field}", empty = false }}'

    def equal_is_unchanged(self) -> bool:
        """Whether a source record equal to its object's is unchanged, as `on_both` would
        find it: updates, no field with a policy, no container followed, no object
        coming back (after a disable or a move for absence)."""
        lifecycle = self.lifecycle
        return (
            self.mapping.on_both == "update"
            and not self.with_policy
            and not self.follows_container
            and (lifecycle is None or not self.mapping.restore or not lifecycle.absent_since)
        )

    def unequal(
        self, wanted: dict[str, Record], found: dict[str, Record]
    ) -> Iterable[tuple[str, Record]]:
        """The source's records (by key) to look at one by one: where a record equal to its
        object's is unchanged (`equal_is_unchanged`), those that are not — the equal ones
        counted unchanged here, at once (in C) —; else all of them. In the source's order."""
        if not self.equal_is_unchanged():
            return wanted.items()
        existing = list(map(found.get, wanted))
        self.matched = (wanted, found, len(existing) - existing.count(None))
        same = list(map(eq, wanted.values(), existing))
        self.counts.unchanged += sum(same)
        return compress(wanted.items(), map(not_, same))

    def absent(
        self, found: dict[str, Record], wanted: dict[str, Record], gone: Set[str]
    ) -> list[tuple[str, Record]]:
        """The objects found that the source does not have (nor a leaver, nor a record
        that failed: `gone`), in the order found; at once none where the source has them
        all (a re-run): where `unequal` found as many of the source's records as there are
        objects, without looking again."""
        matched = self.matched
        if matched is not None and matched[0] is wanted and matched[1] is found:
            if matched[2] == len(found):
                return []
        elif found.keys() <= wanted.keys():
            return []
        return [(k, r) for k, r in found.items() if k not in wanted and k not in gone]

    def on_source_only(self, key: str, record: Record) -> bool:
        """The record's create (False: none is planned — skipped, or refused)."""
        if self.mapping.on_source_only != "create":
            self.counts.skipped += 1
            return False
        # `present` inlined for text, the usual value: this runs for every record created.
        values: Record = {}
        get = record.get
        for field in self.written:
            value = get(field)
            if value.__class__ is str:
                if value:
                    values[field] = value
            elif value is not None and (value := present(value)) is not None:
                values[field] = value
        container = container_of(record, self.mapping)
        if container is None and self.mapping.container_from is not None:
            field = self.mapping.container_from
            self.warn(
                f"source record {display_key(record, self.keys)!r} has no container in "
                f"{field!r}: created where the destination puts objects by default"
            )
        return self.add(key, "create", record, values=values, container=container)

    def on_source_only_all(self, records: Iterable[tuple[str, Record]]) -> None:
        """`on_source_only` of each (key, record) in turn — a first run's every record,
        into an empty destination: where `creates_at_once` serves them all, their creates
        made at once, else one by one."""
        pairs = list(records)
        if not self.creates_at_once(pairs):
            for key, record in pairs:
                self.on_source_only(key, record)

    def creates_at_once(self, pairs: list[tuple[str, Record]]) -> bool:
        """The creates `on_source_only` plans for these (key, record), made at once (in
        C), the very changes in the same places (`ranked`): where the mapping creates in
        a fixed container, with one key field; every record holds the fields written, in
        their order, and no other (no container of its own, no leaver), each value
        non-empty text or a list of non-empty texts (no subclass), and its key text that
        reads as no DN (`rank`'s depth). False, and nothing planned, otherwise."""
        mapping = self.mapping
        written = self.written
        if (
            not pairs
            or self.refuses is not None
            or mapping.on_source_only != "create"
            or mapping.container_from is not None
            or len(self.keys) != 1
        ):
            return False
        records = [record for _, record in pairs]
        if set(map(tuple, records)) != {written}:
            return False
        values = list(chain.from_iterable(map(dict.values, records)))
        kinds = list(map(type, values))
        lists = kinds.count(list)
        if not all(values) or kinds.count(str) + lists != len(values):
            return False  # an empty value (left out of its create), binary, a subclass
        size, at = len(written), written.index(self.keys[0])
        if kinds[at::size].count(str) != len(records):
            return False  # a key of several values: no key to match (`key_of`)
        shown = cast(list[str], values[at::size])
        if "=" in "".join(shown):
            return False  # perhaps a DN, whose depth orders it (phases.rank)
        sets = list(map(dict, records))
        if lists:
            several = [at for at, kind in enumerate(kinds) if kind is list]
            items = list(chain.from_iterable(cast(list[list[str]], [values[at] for at in several])))
            if not all(items) or set(map(type, items)) - {str}:
                return False  # an empty item (left out of its list), or not text
            for at in several:  # the planner's own lists, as `present` copies them
                sets[at // size][written[at % size]] = cast(list[str], values[at]).copy()
        object_type, container = mapping.type, mapping.container
        single = self.keys[0]
        changes = [
            Change(
                action="create",
                key=text,
                match={single: text},
                set=fields,
                object_type=object_type,
                container=container,
            )
            for text, fields in zip(shown, sets, strict=True)
        ]
        phase, action, depth, _, _ = rank(changes[0])
        places = zip(repeat(phase), repeat(action), repeat(depth), repeat(object_type), shown)
        self.ranked += zip(places, [key for key, _ in pairs], changes, strict=True)
        self.counts.create += len(changes)
        return True

    def on_both(self, key: str, record: Record, existing: Record) -> None:
        start = len(self.ranked)
        self._on_both(key, record, existing)
        if len(self.ranked) - start > 1:  # restored or moved, and updated
            count_once(self.counts, [c.action for _, _, c in self.ranked[start:]])

    def _on_both(self, key: str, record: Record, existing: Record) -> None:
        backs = on_return(self.mapping, self.lifecycle, key)
        for back in backs:
            moved_to = container_of(record, self.mapping) if back == "move" else None
            self.add(key, back, existing, container=moved_to)
        # A record counts once: restored or moved, it is neither skipped nor unchanged too.
        if self.mapping.on_both != "update":
            self.counts.skipped += 0 if backs else 1
            return
        moved = False
        if self.follows_container and "move" not in backs:
            moved = self.follow_container(key, record, existing)
        untouched = 0 if backs or moved else 1
        values: Record = {}
        clear: list[str] = []
        before: Record = {}
        policies = self.policies
        new_of, old_of = record.get, existing.get
        compared = self.compared
        # Equal records (the usual re-run) have equal fields: nothing to look up.
        if record == existing or list(map(new_of, self.plain)) == list(map(old_of, self.plain)):
            if not self.with_policy:
                self.counts.unchanged += untouched
                return
            compared = self.with_policy  # the others are equal: skipped below anyway
        for field in compared:
            # `present` called only where it changes something: not on non-empty text,
            # nor on equal values of a field without a policy (present(x) == present(x)).
            new, old = new_of(field), old_of(field)
            if new == old and field not in policies:
                continue
            if new.__class__ is not str or not new:
                new = present(new)
            if old.__class__ is not str or not old:
                old = present(old)
            if field in policies:
                new = resolved(
                    policies[field], old, new, field in self.multi_valued, field in self.folded
                )
            if new != old:
                if new is None:
                    clear.append(field)
                else:
                    values[field] = new
                if old is not None:
                    before[field] = old
        if not values and not clear:
            self.counts.unchanged += untouched
            return
        self.add(key, "update", existing, values=values, clear=tuple(sorted(clear)), before=before)

    def follow_container(self, key: str, record: Record, existing: Record) -> bool:
        """An object whose source record names (`container_from`) another container than
        the one the destination says it is in is moved there (True). Nothing is known, so
        nothing moves, where either side says no container."""
        wanted, now = record.get(CONTAINER_FIELD), existing.get(CONTAINER_FIELD)
        if isinstance(wanted, str) and isinstance(now, str) and not same_container(wanted, now):
            self.add(key, "move", existing, container=wanted)
            return True
        return False

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
            self.absences.append(self.ranked[-1][2].match)

    def in_other_case(self, record: Record, theirs: str, keys_fold: bool | None) -> None:
        """An object found absent whose key the source holds in another case (`theirs`,
        as shown): left alone — the destination compares keys without case (`keys_fold`)
        or may, and hold the source's record in it."""
        self.counts.skipped += 1
        advice = (
            "the destination compares keys without case: set case_insensitive = true"
            if keys_fold
            else "set case_insensitive = true if the destination compares keys without case"
        )
        self.warn(
            f"destination object {display_key(record, self.keys)!r} left alone: the source "
            f"holds its key in another case ({theirs!r}); {advice}"
        )

    def held_in_other_case(self, record: Record, theirs: str) -> None:
        """A source record without an object, whose key an object holds in another case
        (`theirs`, as shown), in a run that cannot see every source record: left out —
        the destination compares keys without case, so a create would land on that
        object, which another source record may hold."""
        self.counts.skipped += 1
        self.warn(
            f"source record {display_key(record, self.keys)!r} left out: the destination "
            f"holds its key in another case ({theirs!r}) and compares keys without case; "
            "a run of the whole source decides (set case_insensitive = true if they are "
            "one object)"
        )

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
        action at once — unless a run deleted its object at the end of its lifecycle."""
        leavers = self.mapping.leavers
        if leavers is None or leavers.new == "skip" or self.mapping.on_source_only == "skip":
            self.counts.skipped += 1
            return
        if self.lifecycle is not None and key in self.lifecycle.deleted:
            self.counts.skipped += 1  # deleted at the end of its lifecycle: not made again
            return
        if self.on_source_only(key, record) and leavers.action != "delete":
            moved_to = leaver_container(self.mapping)
            self.add(key, leavers.action, record, container=moved_to, follow_up=True)

    def add(
        self,
        key: str,
        action: Action,
        found_by: Record,
        *,
        values: Record | None = None,
        clear: tuple[str, ...] = (),
        before: Record | None = None,
        container: str | None = None,
        follow_up: bool = False,
    ) -> bool:
        """A change to the object that `found_by` identifies (its key fields become `match`);
        a `follow_up` completes the object's own change and is counted with it. False: a
        create the destination refuses (`refuses`), not planned: its record fails."""
        change = Change(
            action=action,
            key=display_key(found_by, self.keys),
            match={field: found_by[field] for field in self.keys},
            set=values or {},
            clear=clear,
            before=before or {},
            object_type=self.mapping.type,
            container=container,
            follow_up=follow_up,
        )
        refuses = self.refuses if action == "create" else None
        if refuses is not None and (why := refuses(change)) is not None:
            kind = self.mapping.type
            self.refused.append(
                RecordError(key=change.key, action="create", message=why, object_type=kind)
            )
            return False
        self.ranked.append((rank(change), key, change))
        if not follow_up:
            setattr(self.counts, action, getattr(self.counts, action) + 1)
        return True

    def warn(self, text: str) -> None:
        self.warning_count += 1
        if self.warning_count <= MAX_WARNINGS:
            self.warnings.append(text)
        elif (kind := warning_kind(text)) is not None and kind in self.kept_kinds():
            self.more_like[kind] = self.more_like.get(kind, 0) + 1
        else:
            self.more += 1

    def kept_kinds(self) -> set[str]:
        """The kinds of warnings about single records among those kept."""
        if self._kinds is None:
            self._kinds = {kind for w in self.warnings if (kind := warning_kind(w)) is not None}
        return self._kinds

    def overflow(self) -> list[str]:
        """What follows the warnings kept: how many more of each kind kept (counted with
        it, as `grouped_warnings` tells them), then how many others."""
        told = [more_like(count, kind) for kind, count in self.more_like.items()]
        return told + ([f"... and {self.more} more warnings"] if self.more else [])

    def finish(self) -> list[Change]:
        """The changes in their order, and the warnings closed."""
        # Sorting by (phase, ..., key as shown, identity) makes the order independent of
        # input order.
        self.ranked.sort(key=lambda ranked: ranked[:2])
        self.warnings += self.overflow()
        return [ranked[2] for ranked in self.ranked]


_DONE = {"delete": "deleted", "disable": "disabled", "move": "moved"}
"""What `on_destination_only` does to an absent object, as a warning says it."""


def _counted(count: int, thing: str) -> str:
    """A count and its noun: 1 source record, 2 source records."""
    return f"{count} {thing}" if count == 1 else f"{count} {thing}s"
