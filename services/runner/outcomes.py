"""Each record counts once in a run's statistics, in exactly one outcome (pure).

A record is an object of the plan (its type and key) or a source record planning left
out. Its outcome is `failed` when planning found an error in it (a transformation
failed, a reference does not resolve) or any of its changes failed; else what its own
change did — created, updated, deleted, disabled, moved, enabled (a references-phase
follow-up counts with it; an object restored and updated counts as restored); else
`unchanged` or `skipped`, as the plan found it. So the outcomes add up to the records
the run considered: every source record read (in the run's scope) and every
destination-only object the plan acted on or left alone. A record may have several
reasons; it is still one failed record.

Most records have one change, in one batch, and that batch counts them. A record whose
changes are in several batches, or in which planning found an error, is *shared*: it
gets a number, and the run's state keeps a bit per shared record, set when it fails
(`RunState.failed_records`). A batch changes the bits and the statistics in one
compare-and-set, so whatever the order batches are applied in (side by side, again after
a crash), a shared record counts once: failed by the first of its changes that fails
(which takes back what its own change counted, if that one succeeded before), else by
the change that counts it.
"""

from __future__ import annotations

import zlib
from collections import Counter
from collections.abc import Collection, Iterable, Iterator, Sequence
from operator import attrgetter
from typing import Protocol

from core.engine.counting import counts_as as first_of
from schemas.plan import APPLIED_STAT, Change, PlanCounts, RecordError, RunStats
from schemas.work import Creates, Shared, WorkBatch

Identity = tuple[str, str]
"""A record: its object type and its key as shown."""

# Actions that can follow an update of the same object as a change of its own (a restore).
_RESTORES = frozenset({"enable", "move"})


def identity(item: Change | RecordError) -> Identity:
    return (item.object_type, item.key)


def skips(error: RecordError) -> bool:
    """Whether the error's record is skipped on purpose rather than failed."""
    return error.action == "skip" or error.skipped


def failed_in_planning(errors: Iterable[RecordError]) -> set[Identity]:
    """The records planning found an error in, but those it skips on purpose."""
    errors = list(errors)
    skipped = {identity(e) for e in errors if skips(e)}
    return {identity(e) for e in errors} - skipped


def planned_stats(
    changes: Iterable[Change], errors: list[RecordError], counts: PlanCounts, read: int
) -> RunStats:
    """What planning decided, by record: records read, unchanged, skipped (a script's skips
    are not in the plan's counts), and failed (each record once, however many errors)."""
    failed = failed_in_planning(errors)
    by_script = {identity(e) for e in errors if e.action == "skip"}
    changed = {identity(c) for c in changes if identity(c) in failed} if failed else set()
    # A reference that does not resolve, on an object with nothing else to change: the
    # plan counted it unchanged.
    left = {identity(e) for e in errors if e.action == "resolve" and identity(e) in failed}
    return RunStats(
        read=read,
        unchanged=counts.unchanged - len(left - changed),
        skipped=counts.skipped + len(by_script),
        failed=len(failed),
    )


class Ledger:
    """The shared records that failed: a bit each, by number."""

    def __init__(self, data: bytes = b"") -> None:
        self.bits = bytearray(zlib.decompress(data)) if data else bytearray()

    def failed(self, record: int) -> bool:
        byte = record >> 3
        return byte < len(self.bits) and bool(self.bits[byte] & (1 << (record & 7)))

    def fail(self, record: int) -> bool:
        """Mark the record failed; True when it had not failed before."""
        if self.failed(record):
            return False
        byte = record >> 3
        if byte >= len(self.bits):
            self.bits.extend(bytes(byte + 1 - len(self.bits)))
        self.bits[byte] |= 1 << (record & 7)
        return True

    def encode(self) -> bytes:
        return zlib.compress(bytes(self.bits)) if self.bits else b""


Place = tuple[int, int, Change]
"""A change with its batch's number and its place in the batch."""


class Placed(Protocol):
    """A plan's batches (numbered from 1, in order, across phases), read as often as asked:
    a large plan's are read again from disk rather than held."""

    def unusual(self) -> Iterable[Change]:
        """At least every change that may be a follow-up or a restore."""

    def places(self, records: Collection[Identity]) -> Iterator[Place]:
        """The places of the changes of these records, in plan order."""


class InBatches:
    """A plan's batches held in memory."""

    def __init__(self, batches: Sequence[Sequence[Change]]) -> None:
        self.batches = batches

    def unusual(self) -> Iterable[Change]:
        return (change for batch in self.batches for change in batch)

    def places(self, records: Collection[Identity]) -> Iterator[Place]:
        for number, batch in enumerate(self.batches, start=1):
            for at, change in enumerate(batch):
                if identity(change) in records:
                    yield number, at, change


def shared_records(
    batches: Placed, errors: Iterable[RecordError]
) -> tuple[dict[int, list[Shared]], bytes]:
    """The shared records of a plan's batches (numbered from 1, in order, across phases):
    their changes by batch number, and the ledger with those that failed in planning
    marked. Only records with a follow-up, a restore or a planning error can be shared,
    so a plan of a million plain changes is looked at, not indexed."""
    failed = failed_in_planning(errors)
    candidates = set(failed)
    for change in batches.unusual():
        if change.follow_up or change.action in _RESTORES:
            candidates.add(identity(change))
    found: dict[Identity, list[Place]] = {}
    if candidates:
        for place in batches.places(candidates):
            found.setdefault(identity(place[2]), []).append(place)
    shared: dict[int, list[Shared]] = {}
    ledger = Ledger()
    record = 0
    for who, places in found.items():  # in plan order of each record's first change
        if len(places) < 2 and who not in failed:
            continue
        own = [place for place in places if not place[2].follow_up] or places
        counting = own[0]
        actions = {place[2].action for place in own}
        counts_as = first_of(actions)
        for number, at, _ in places:
            entry = Shared(
                at=at,
                record=record,
                counts_as=counts_as,
                counted_in=counting[0],
                counts=(number, at) == counting[:2],
            )
            shared.setdefault(number, []).append(entry)
        if who in failed:
            ledger.fail(record)
        record += 1
    return shared, ledger.encode()


_action = attrgetter("action")
_follow_up = attrgetter("follow_up")


def count_batch(
    batch: WorkBatch, errors: Sequence[str | None], ledger: Ledger, done: Collection[int]
) -> RunStats:
    """What an applied batch adds to the run's statistics, each record once (`errors`: per
    change, why it failed or None), marking in `ledger` the shared records that failed.
    `done`: the batches counted before this one."""
    counts = dict.fromkeys(APPLIED_STAT.values(), 0)
    if not batch.shared and errors.count(None) == len(errors):
        # Every change applied, each its record's only one (a first run's batch): counted
        # by action, follow-ups apart, without a look at each change.
        if isinstance(batch.changes, Creates):  # plain creates as columns
            return RunStats(created=len(batch.changes))
        changes = batch.changes
        if any(map(_follow_up, changes)):
            changes = [change for change in changes if not change.follow_up]
        for action, count in Counter(map(_action, changes)).items():
            counts[APPLIED_STAT[action]] += count
        return RunStats(**counts)
    failed = 0
    shared = {entry.at: entry for entry in batch.shared}
    counted_here: set[int] = set()
    for at, (change, error) in enumerate(zip(batch.changes, errors, strict=True)):
        entry = shared.get(at)
        if entry is None:  # the record's only change
            if error is not None:
                failed += 1
            elif not change.follow_up:
                counts[APPLIED_STAT[change.action]] += 1
        elif error is None:
            if entry.counts and not ledger.failed(entry.record):
                counts[APPLIED_STAT[entry.counts_as]] += 1
                counted_here.add(entry.record)
        elif ledger.fail(entry.record):
            failed += 1
            counted_before = entry.counted_in != batch.number and entry.counted_in in done
            if entry.record in counted_here or counted_before:
                counts[APPLIED_STAT[entry.counts_as]] -= 1  # it failed after all
    return RunStats(failed=failed, **counts)


def record_errors(batch: WorkBatch, errors: Sequence[str | None]) -> list[RecordError]:
    """The reasons of the batch's failed changes."""
    if errors.count(None) == len(errors):
        return []
    return [
        RecordError(
            key=change.key, action=change.action, message=error, object_type=change.object_type
        )
        for change, error in zip(batch.changes, errors, strict=True)
        if error is not None
    ]
