"""A memory-lean first pass for large plans: one side indexed by per-key digests.

Holding a million records of each side as dicts takes gigabytes. Instead the
destination is read once into `key → digest of the compared fields` (an int each);
the source is streamed against it, and a record whose digest matches is unchanged
and dropped at once. What is left — creates, updates, the destination-only keys and
anything unusual — is planned exactly by `plan()` with the destination records of
just those keys, read a second time. Equal digests mean equal values (a 64-bit
blake2b: a collision, about 1 in 10^19 per record, would hide one update).

Pure: the caller does the reading (services/runner/planning/low_memory.py).
"""

from __future__ import annotations

import hashlib
from collections.abc import Collection, Iterable, Sequence
from itertools import chain

import msgspec

from schemas.jobs import ObjectMapping
from schemas.values import Record

from .containers import CONTAINER_FIELD, container_form, follows_container
from .keys import DuplicateKey, display_key, folded_key, match_key, other_cases
from .lifecycle import LEAVER_FIELD
from .mapping import present
from .unique import Taken

_encoder = msgspec.msgpack.Encoder()
# Replace the digest of a destination key once a source record matched it.
_KEPT = -1  # the source record differs: plan() gets both
_DROPPED = -2  # the source record was unchanged and dropped
DROPPED = _DROPPED
"""The digest of a destination key whose unchanged source record was dropped."""
KEPT = _KEPT
"""The digest of a destination key whose source record `plan()` gets."""


def compared_fields(mapping: ObjectMapping, managed: Sequence[str]) -> tuple[str, ...]:
    """The fields an update compares, as `plan()` compares them (create-only ones never)."""
    create_only = {field.to for field in mapping.fields if field.create_only}
    return tuple(field for field in dict.fromkeys(managed) if field not in create_only)


class DigestIndex:
    """The destination by key (digests only), then what the source left to plan."""

    def __init__(
        self, mapping: ObjectMapping, managed: Sequence[str], returning: Collection[str] = ()
    ) -> None:
        self.keys = tuple(mapping.keys)
        self.returning = returning
        """Keys of objects found absent before (lifecycle.py): back, they may be restored,
        so `plan()` needs them even unchanged."""
        self.case_insensitive = mapping.case_insensitive
        self.compared = compared_fields(mapping, managed)
        self.containers = follows_container(mapping)
        """The container is compared too (containers.py): the planner may move the object."""
        self.digests: dict[str, int] = {}
        self.wanted: set[str] = set()
        """Destination keys whose records `plan()` needs: updates, duplicates, absent."""
        self.created: set[str] = set()
        self.unchanged = 0
        """Source records dropped, equal to their objects: counted unchanged by `plan()`."""
        self.skipped = 0
        """Those dropped of a job that leaves the objects it finds alone (`on_both =
        "skip"`): counted skipped by `plan()`, equal or not."""
        self.updates = mapping.on_both == "update"
        self.odd_destination = False
        """Some destination record had no usable key: `plan()` must see it, to report it."""
        self.taken = Taken(mapping)
        """The values of unique fields (unique.py): `plan()` sees only some records."""
        self.folds: dict[str, list[str]] | None = None
        """With `fold_keys()`: the destination's keys by their fold (a destination
        comparing keys without case)."""

    def digest(self, record: Record) -> int:
        # Text first: `present` for it is `v or None`, and this runs for every record.
        values: list[object] = [
            (v or None) if type(v) is str else present(v) for v in map(record.get, self.compared)
        ]
        if self.containers:  # an object in another container than its record names moves
            where = record.get(CONTAINER_FIELD)
            values.append(container_form(where) if isinstance(where, str) else None)
        raw = hashlib.blake2b(_encoder.encode(values), digest_size=8).digest()
        return int.from_bytes(raw, "big") & 0x7FFF_FFFF_FFFF_FFFF  # never a marker

    def add_destination(self, record: Record) -> None:
        if self.taken.rules:
            self.taken.add(record)
        key = match_key(record, self.keys, self.case_insensitive)
        if key is None:
            self.odd_destination = True
        elif key in self.digests:
            self.wanted.add(key)  # two records share it: plan() reports them
        else:
            self.digests[key] = self.digest(record)

    def keep_source(self, record: Record) -> bool:
        """Whether `plan()` needs this source record; False when it is unchanged."""
        key = match_key(record, self.keys, self.case_insensitive)
        if key is None:
            return True  # plan() skips and reports it
        found = self.digests.get(key)
        if found is None:
            if key in self.created:
                self.wanted.add(key)
            self.created.add(key)  # a create; a second one is a duplicate plan() reports
            self.held_in_other_case(key)
            return True
        if found == _DROPPED:  # the first record with this key is gone: name its key
            shown = display_key(record, self.keys)
            first = {field: record[field] for field in self.keys}
            raise DuplicateKey(shown, first, record)
        leaving = LEAVER_FIELD in record
        if found == _KEPT or key in self.wanted or key in self.returning or leaving:
            self.wanted.add(key)  # a duplicate source key, one of duplicate destinations,
            self.digests[key] = _KEPT  # an object back after an absence, or a leaver's
            return True
        if found == self.digest(record):
            self.digests[key] = _DROPPED
            if self.updates:
                self.unchanged += 1
            else:
                self.skipped += 1
            return False
        self.digests[key] = _KEPT
        self.wanted.add(key)
        return True

    def fold_keys(self) -> None:
        """Once the destination is read, for a job comparing keys with case where the
        destination compares them without: know its keys by their fold
        (`held_in_other_case`)."""
        self.folds = {}
        fields = len(self.keys)
        for key in self.digests:
            self.folds.setdefault(folded_key(key, fields), []).append(key)

    def held_in_other_case(self, key: str) -> bool:
        """Whether objects hold the key of a create in another case (after `fold_keys`):
        then `plan()` is given them with it — a run that cannot see every source record
        leaves such a create out, as it would in memory — and the create is not one to
        plan on disk."""
        if self.folds is None:
            return False
        theirs = self.folds.get(folded_key(key, len(self.keys)))
        if not theirs:
            return False
        self.wanted.update(theirs)
        return True

    def any_needed(self, *, absent: bool) -> bool:
        """Whether a second pass can find a record `plan()` needs (`destination_needed`):
        a key it wants, a record without a usable key, or — for a run that acts on
        absence — a key no source record matched. False for a re-run in which every
        destination record had its unchanged source record: no second read."""
        if self.wanted or self.odd_destination:
            return True
        return absent and any(digest >= 0 for digest in self.digests.values())

    def destination_needed(self, record: Record, *, absent: bool) -> bool:
        """Second pass: whether `plan()` needs this destination record (`absent`: also
        those no source record matched, for a run that acts on absence)."""
        key = match_key(record, self.keys, self.case_insensitive)
        if key is None:
            return True
        return key in self.wanted or (absent and self.digests.get(key, _KEPT) >= 0)

    def other_cases(self, spilled: Iterable[str] = ()) -> dict[str, str]:
        """The keys of the objects no source record matched that a source record `plan()`
        is not given holds in another case (an unchanged one dropped, or one of the
        `spilled` creates' keys) → that record's key (keys.py `other_cases`): `plan()`
        leaves them alone, as it does those of the records it is given."""
        unmatched = [key for key, digest in self.digests.items() if digest >= 0]
        if not unmatched:
            return {}
        dropped = (key for key, digest in self.digests.items() if digest == DROPPED)
        return other_cases(unmatched, chain(dropped, spilled), len(self.keys))
