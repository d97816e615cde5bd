"""Work: the change batches of a planned run, on the work queue (idsync.work.<job>).

A batch names the plan it belongs to; a batch of a plan that is no longer the run's
(the run was re-planned) is dropped unapplied. Batches travel as msgpack, which keeps
binary values as bytes.
"""

from __future__ import annotations

from collections.abc import Iterator
from functools import cached_property, partial
from itertools import repeat
from typing import cast

import msgspec

from .event_ids import work_id
from .plan import Action, Change
from .values import Value


class Shared(msgspec.Struct, frozen=True, array_like=True, gc=False):
    """A change of a record whose outcome does not depend on this batch alone: the record
    has other changes (a create and its references, an update in parts) or planning
    found an error in it. It counts once in the run's statistics, through the run's
    ledger of failed records (services/runner/outcomes.py)."""

    at: int
    """The change's place in the batch."""
    record: int
    """The record's number in the run's ledger."""
    counts_as: Action
    """What the record counts as when none of its changes fails."""
    counted_in: int
    """The batch holding the change that counts it (when that one succeeds)."""
    counts: bool
    """This is that change."""


class Creates(msgspec.Struct, frozen=True, kw_only=True, dict=True):
    """A batch of plain creates as columns (a first run's, most often): each change a
    `create` of `object_type` in `container` whose `key` is the value of its one key field
    `key_field`, matched by that field alone, and which sets `fields` (in this order) to
    one value of each column. Decoded, no dict is made per change; `changes` gives them
    as `Change`s, the very ones the plan holds (tests/unit/test_fast_paths.py)."""

    key_field: str
    fields: tuple[str, ...]
    """In the order the plan's hash encodes a change's fields set (sorted)."""
    columns: list[list[Value]]
    """One per field, each change's value in the batch's order."""
    object_type: str = "user"
    type_written: bool = False
    """The plan's changes write their type out, though it is the default (a job naming
    its type "user"): so do the changes made of the columns."""
    container: str | None = None

    def __len__(self) -> int:
        return len(self.columns[0]) if self.columns else 0

    def __iter__(self) -> Iterator[Change]:
        return iter(self.changes)

    def __contains__(self, item: object) -> bool:
        return item in self.changes

    def __getitem__(self, index: int) -> Change:
        return self.changes[index]

    @property
    def keys(self) -> list[Value]:
        """Each change's key (its key field's value), in order."""
        return self.columns[self.fields.index(self.key_field)]

    @cached_property
    def changes(self) -> list[Change]:
        """The changes, made once, for a reader that needs them."""
        field, container = self.key_field, self.container
        make = partial(Change, action="create", container=container)
        if self.type_written or self.object_type != "user":
            written = _USER if self.object_type == "user" else self.object_type
            make = partial(make, object_type=written)
        sets = map(dict, map(zip, repeat(self.fields), zip(*self.columns, strict=True)))
        return [
            make(key=key, match={field: key}, set=values)
            for key, values in zip(cast(list[str], self.keys), sets, strict=True)
        ]


_USER = "".join(["us", "er"])
"""The default type as an object of its own, which a change writes out: `omit_defaults`
tells a default by identity (a job's type decoded as "user" is written out too)."""

Changes = list[Change] | Creates
"""A batch's changes: a list, or plain creates as columns (`Creates`), which reads as a
collection of the same changes."""


def listed(changes: Changes) -> list[Change]:
    """A batch's changes as a list (plain creates made into changes)."""
    return changes.changes if isinstance(changes, Creates) else changes


class WorkBatch(msgspec.Struct, frozen=True, kw_only=True, gc=False):
    run_id: str
    job_id: str
    plan_hash: str
    phase: int
    """The phase's index in the run's plan: batches of one phase may run in parallel."""
    number: int
    """1 to the plan's number of batches, across phases."""
    changes: Changes
    """A list of changes; a batch of plain creates as columns (a map on the wire)."""
    shared: list[Shared] = msgspec.field(default_factory=list)
    """The changes of records shared with other batches (most batches: none)."""
    site: str = ""
    """The site whose runners alone apply it (its job's); empty: any central runner."""

    @property
    def msg_id(self) -> str:
        """Deterministic: republishing a batch of the same plan is stored once."""
        return work_id(self.run_id, self.plan_hash, self.number)


class RawBatch(msgspec.Struct, frozen=True, kw_only=True, gc=False):
    """A `WorkBatch` whose changes are already encoded (a large plan read back from disk):
    the same message, decoded as a `WorkBatch`."""

    run_id: str
    job_id: str
    plan_hash: str
    phase: int
    number: int
    changes: list[msgspec.Raw] | Creates
    shared: list[Shared] = msgspec.field(default_factory=list)
    site: str = ""


class StoredPlan(msgspec.Struct, frozen=True, kw_only=True, gc=False):
    """The whole plan of a run, batched by phase, as kept in the object store: its batches
    inline (`phases`), or each batch apart, as it goes on the work queue (`batches`)."""

    run_id: str
    job_id: str
    plan_hash: str
    phases: list[list[list[Change]]]
    shared: dict[int, list[Shared]] = msgspec.field(default_factory=dict)
    """By batch number: its changes of records shared with other batches."""
    site: str = ""
    """The job's site (schemas/connections.py): its batches go to that site's runners."""
    batches: list[int] = msgspec.field(default_factory=list)
    """When the batches are kept apart (`phases` then empty): how many each phase has.
    Batch N is the object `<run>.<N>` (services/common/stored_plans.py)."""

    @property
    def apart(self) -> bool:
        return bool(self.batches)

    def numbers(self, phase: int) -> range:
        """The numbers of the phase's batches (from 1, across phases)."""
        sizes = self.batches or [len(batches) for batches in self.phases]
        first = sum(sizes[:phase]) + 1
        return range(first, first + sizes[phase])

    def batches_of(self, phase: int) -> list[WorkBatch]:
        first = sum(len(batches) for batches in self.phases[:phase]) + 1
        return [
            WorkBatch(
                run_id=self.run_id,
                job_id=self.job_id,
                plan_hash=self.plan_hash,
                phase=phase,
                number=first + i,
                changes=changes,
                shared=self.shared.get(first + i, []),
                site=self.site,
            )
            for i, changes in enumerate(self.phases[phase])
        ]


_encoder = msgspec.msgpack.Encoder()
_batch_decoder = msgspec.msgpack.Decoder(WorkBatch)
_plan_decoder = msgspec.msgpack.Decoder(StoredPlan)


def encode(value: WorkBatch | StoredPlan) -> bytes:
    return _encoder.encode(value)


def encode_raw(value: RawBatch) -> bytes:
    return _encoder.encode(value)


def decode_batch(data: bytes) -> WorkBatch:
    """A batch whose changes are a list (plain creates sent as columns made changes)."""
    batch = decode_columns(data)
    if isinstance(batch.changes, Creates):
        return msgspec.structs.replace(batch, changes=batch.changes.changes)
    return batch


def decode_columns(data: bytes) -> WorkBatch:
    """A batch as it was sent: plain creates sent as columns stay columns (`Creates`)."""
    batch: WorkBatch = _batch_decoder.decode(data)
    return batch


def decode_plan(data: bytes) -> StoredPlan:
    plan: StoredPlan = _plan_decoder.decode(data)
    return plan
