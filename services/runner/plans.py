"""A plan's batches: cut, kept in the object store, put on the work queue phase by phase
(the plans themselves: common/stored_plans.py).

A plan is cut into batches one at a time (`Batched`), so a plan read back from disk
(planning/spill.py) is never held whole: each batch is kept in the object store as it
goes on the work queue, and put on the work queue from there. The first batches this
process builds stay in memory (up to KEPT_CHANGES changes) until this process pulls them
(`recall`), so the runner that planned a run applies them without decoding what it has
just encoded. Nothing else changes: each batch is on the work queue, acknowledged once
applied, redelivered (and then decoded) if this process dies first.
"""

from __future__ import annotations

import asyncio
import itertools
import operator
from collections.abc import Collection, Coroutine, Iterable, Iterator, Sequence
from typing import Any

import msgspec
import structlog

from core.engine import phase_of
from core.engine.batching import CHANGE_OVERHEAD, each_batch
from core.errors import BadInput
from schemas.event_ids import work_id
from schemas.plan import Change
from schemas.work import Changes, RawBatch, Shared, StoredPlan, WorkBatch, encode, encode_raw
from services.common.bus import Bus
from services.common.runs import RunState
from services.common.stored_plans import batch_data, save_batch, save_plan

from .outcomes import Identity, Place, identity
from .planning.spill import (
    Entry,
    SpilledPlan,
    as_columns,
    decoded,
    identity_of_order,
    phase_of_order,
)

log = structlog.get_logger("idsync.runner")
_data_of = operator.itemgetter(1)

MAX_BATCH_BYTES = 512 * 1024  # well under the server's 1 MiB message limit
COLUMNS_OVERHEAD = 4096
"""A batch sent as columns, beyond its values and its field names and columns' headers
(`SpilledPlan.column_size`): its run, plan, key field, object type and container."""
KEPT_CHANGES = 100_000
KEPT_BYTES = 32 * 1024 * 1024
"""The first phase's encoded batches kept between storing a plan and queueing it, at most
(a larger phase is cut again from the plan, as it goes on the work queue)."""
IN_FLIGHT = 8
"""Batches saved in the object store, or put on the work queue, at the same time: each
waits for the server's acknowledgement, so one at a time leaves both sides idle."""
"""Changes of the batches built here kept for `recall` at most (those other runners take
are never pulled here: the oldest go first)."""
_published: dict[str, WorkBatch] = {}
_kept_changes = 0


class Batched:
    """A plan's batches in order — (phase index, number from 1, changes) — cut again each
    time they are read (`outcomes.Placed`). A plan with nothing to do still has its apply
    phase: one empty batch, so every run reports how its apply went.

    A plan read back from disk (`SpilledPlan`) is cut from its changes as encoded, by their
    encoded size, and its batches are encoded around them: its changes are never decoded
    on the way to the object store."""

    def __init__(self, changes: Sequence[Change], batch_size: int) -> None:
        self.changes = changes
        self.batch_size = batch_size
        self.first_phase: dict[int, bytes] = {}
        """The first phase's messages as `store_plan` encoded them (by number, up to
        KEPT_BYTES): put on the work queue from here, not cut and encoded again."""

    def __iter__(self) -> Iterator[tuple[int, int, list[Change]]]:
        if isinstance(self.changes, SpilledPlan):
            for phase, number, entries, _ in self._spilled(self.changes):
                yield phase, number, [decoded(data) for _, data in entries]
            return
        phase, last, number = -1, "", 0
        for batch in each_batch(self.changes, self.batch_size, MAX_BATCH_BYTES):
            number += 1
            if (name := phase_of(batch[0])) != last:
                phase, last = phase + 1, name
            yield phase, number, batch
        if number == 0:
            yield 0, 1, []

    def encoded(
        self,
        run_id: str,
        job_id: str,
        plan_hash: str,
        shared: dict[int, list[Shared]],
        site: str = "",
    ) -> Iterator[tuple[int, bytes, WorkBatch | None]]:
        """Each batch's phase index, its message, and the batch itself unless the plan is
        read from disk (there, a batch of plain creates is sent as columns: `as_columns`,
        made of the values planned or of the changes as encoded, without a dict per
        change); each for the runners of `site` (empty: any central runner)."""

        def work(phase: int, number: int, changes: Changes) -> WorkBatch:
            return WorkBatch(
                run_id=run_id,
                job_id=job_id,
                plan_hash=plan_hash,
                phase=phase,
                number=number,
                changes=changes,
                shared=shared.get(number, []),
                site=site,
            )

        if isinstance(self.changes, SpilledPlan):
            for phase, number, entries, found in self._spilled(self.changes):
                values = self.changes.values_of(entries) if found is None else found
                if (creates := as_columns(entries, values)) is not None:  # a first run's
                    # Not kept to recall: decoding columns costs little, holding them
                    # 46 MiB more at 100,000 (docs/performance.md).
                    yield phase, encode(work(phase, number, creates)), None
                    continue
                if sum(map(len, map(_data_of, entries))) > MAX_BATCH_BYTES:  # cut as columns
                    raise RuntimeError(f"batch {number} was cut to go as columns, and cannot")
                message = RawBatch(
                    run_id=run_id,
                    job_id=job_id,
                    plan_hash=plan_hash,
                    phase=phase,
                    number=number,
                    changes=[msgspec.Raw(data) for _, data in entries],
                    shared=shared.get(number, []),
                    site=site,
                )
                yield phase, encode_raw(message), None
            return
        for phase, number, changes in self:
            batch = work(phase, number, changes)
            yield phase, encode(batch), batch

    def unusual(self) -> Iterable[Change]:
        if isinstance(self.changes, SpilledPlan):
            return self.changes.planned  # the spilled ones are plain creates
        return self.changes

    def places(self, records: Collection[Identity]) -> Iterator[Place]:
        if not isinstance(self.changes, SpilledPlan):
            for _, number, changes in self:
                for at, change in enumerate(changes):
                    if identity(change) in records:
                        yield number, at, change
            return
        for _, number, entries, _ in self._spilled(self.changes):
            for at, (place, data) in enumerate(entries):
                if identity_of_order(place) in records:
                    yield number, at, decoded(data)

    def _spilled(
        self, plan: SpilledPlan, quick: bool = True
    ) -> Iterator[tuple[int, int, list[Entry], list[msgspec.Struct] | None]]:
        """`each_batch` over the encoded changes, by their encoded size — or, a batch of
        creates planned from columns of one shape (`SpilledPlan.column_size`), sent as
        columns, by their size as columns: more of them a batch. A batch made only of
        such creates is cut at once where it can be (`SpilledPlan.column_batch`, unless
        not `quick`): the same batches, without looking at each create in turn, given
        with the values of its creates (None: a batch cut a change at a time)."""
        phase, last, number = -1, "", 0
        batch: list[Entry] = []
        batch_bytes = column_bytes = 0
        shape: object = None
        """The shape of every create of the batch planned from columns; None: another."""
        column_size = plan.column_size
        source = plan.entries()
        ahead: list[Entry] = []
        at = 0
        """Entries read ahead of a new batch, to cut it at once; the next is `ahead[at]`."""
        quick = quick and plan.from_columns
        while True:
            if quick and not batch:
                del ahead[:at]
                at = 0
                ahead += itertools.islice(source, self.batch_size + 1 - len(ahead))
                room = MAX_BATCH_BYTES - COLUMNS_OVERHEAD
                cut = plan.column_batch(ahead, self.batch_size, room) if ahead else None
                if cut is not None and largest(ahead[: len(cut)]) <= MAX_BATCH_BYTES:
                    # (a change too large for any batch: refused below, naming it)
                    if (name := phase_of_order(ahead[0][0])) != last:
                        phase, last = phase + 1, name
                    number += 1
                    yield phase, number, ahead[: len(cut)], cut
                    del ahead[: len(cut)]
                    continue
            if at < len(ahead):
                entry, at = ahead[at], at + 1
            elif (following := next(source, None)) is not None:
                entry = following
                if quick:
                    ahead.append(entry)
                    at += 1
            else:
                break
            size = len(entry[1]) + CHANGE_OVERHEAD
            if size > MAX_BATCH_BYTES:
                change = decoded(entry[1])
                raise BadInput(
                    f"the {change.action} of {change.key!r} takes {size} bytes, more than a "
                    f"batch may hold ({MAX_BATCH_BYTES}); shorten its values"
                )
            name = phase_of_order(entry[0])
            sized = column_size(entry)
            columns = sized is not None and (not batch or sized[0] is shape)
            if columns and sized is not None:  # the field names count once a batch
                fits = column_bytes + sized[1] + sized[2] <= MAX_BATCH_BYTES - COLUMNS_OVERHEAD
            else:
                fits = batch_bytes + size <= MAX_BATCH_BYTES
            full = len(batch) >= self.batch_size or not fits
            if batch and (full or name != last):
                number += 1
                yield phase, number, batch, None
                batch, batch_bytes, column_bytes = [], 0, 0
                if quick:  # this change starts the next batch: cut at once if it can be
                    at -= 1
                    continue
                columns = sized is not None
            if name != last:
                phase, last = phase + 1, name
            batch.append(entry)
            batch_bytes += size
            shape, column_bytes = (
                (sized[0], column_bytes + sized[1]) if columns and sized else (None, 0)
            )
        if batch or not number:
            number += 1
            yield max(phase, 0), number, batch, None


def largest(entries: Sequence[Entry]) -> int:
    """The bytes the largest of these changes takes in a batch."""
    return max(map(len, map(_data_of, entries))) + CHANGE_OVERHEAD


Made = tuple[Batched, dict[int, list[Shared]]]
"""A plan's batches as this runner has just cut and stored them, and their shared records."""


def recall(msg_id: str) -> WorkBatch | None:
    """The batch of this id, if this process built it and has not pulled it yet."""
    global _kept_changes
    batch = _published.pop(msg_id, None)
    if batch is not None:
        _kept_changes -= len(batch.changes)
    return batch


def _keep(batch: WorkBatch) -> None:
    global _kept_changes
    if (before := _published.pop(batch.msg_id, None)) is not None:  # a plan stored again
        _kept_changes -= len(before.changes)
    _published[batch.msg_id] = batch
    _kept_changes += len(batch.changes)
    while _kept_changes > KEPT_CHANGES and len(_published) > 1:
        _kept_changes -= len(_published.pop(next(iter(_published))).changes)


async def store_plan(
    bus: Bus,
    run_id: str,
    job_id: str,
    plan_hash: str,
    batched: Batched,
    shared: dict[int, list[Shared]],
    site: str = "",
) -> StoredPlan:
    """Keep each batch, then the plan (how many batches each phase has; the job's site,
    whose runners apply them). The plan is saved once every batch is: a plan found
    stored has all its batches."""
    sizes: list[int] = []
    offered = 0
    kept_bytes = 0
    batched.first_phase = {}
    async with InFlight(IN_FLIGHT) as saving:
        for number, (phase, data, batch) in enumerate(
            batched.encoded(run_id, job_id, plan_hash, shared, site), start=1
        ):
            await saving.start(save_batch(bus, run_id, number, data))
            # This plan's first batches, those pulled first (a plan read from disk: none,
            # decoding them here would cost what recalling them saves).
            if batch is not None and offered < KEPT_CHANGES:
                offered += len(batch.changes)
                _keep(batch)
            if phase == 0 and kept_bytes >= 0:
                kept_bytes += len(data)
                batched.first_phase[number] = data
                if kept_bytes > KEPT_BYTES:  # too large to hold: let it go at once
                    batched.first_phase, kept_bytes = {}, -1
            if phase == len(sizes):
                sizes.append(0)
            sizes[phase] += 1
    if len(batched.first_phase) < (sizes[0] if sizes else 0):
        batched.first_phase = {}  # not all of it: cut again when it goes on the work queue
    stored = StoredPlan(
        run_id=run_id, job_id=job_id, plan_hash=plan_hash, phases=[], batches=sizes, site=site
    )
    await save_plan(bus, stored)
    return stored


class InFlight:
    """Awaitables run side by side, at most `limit` at once; leaving the block waits for
    all of them and raises the first error (after every one has ended)."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.tasks: set[asyncio.Task[None]] = set()
        self.error: BaseException | None = None

    async def __aenter__(self) -> InFlight:
        return self

    async def start(self, work: Coroutine[Any, Any, None]) -> None:
        while len(self.tasks) >= self.limit:
            await self._settle(asyncio.FIRST_COMPLETED)
        if self.error is not None:
            work.close()
            raise self.error
        self.tasks.add(asyncio.ensure_future(work))

    async def _settle(self, when: str) -> None:
        done, self.tasks = await asyncio.wait(self.tasks, return_when=when)
        for task in done:
            if (error := task.exception()) is not None and self.error is None:
                self.error = error

    async def __aexit__(self, *exc: object) -> None:
        if self.tasks:
            await self._settle(asyncio.ALL_COMPLETED)
        if self.error is not None and exc[0] is None:
            raise self.error


def next_phase(state: RunState) -> int | None:
    """The first phase with batches still to apply; None when every batch is applied."""
    for phase in range(len(state.phases)):
        if not state.phase_done(phase):
            return phase
    return None


async def publish_phase(
    bus: Bus, plan: StoredPlan, state: RunState, made: Made | None = None
) -> None:
    """Put the batches of the first unfinished phase on the work queue (those not applied
    yet), then record that the phase is out. Publishing again is harmless: a batch is
    stored once within the duplicate window, and applied once whatever happens.

    The batches are read from the object store — or, by the runner that has just stored
    them, cut again from the plan it holds (`made`: reading an object back takes a
    consumer of its own, some tens of milliseconds, for each of hundreds of batches)."""
    phase = next_phase(state)
    if phase is None:
        return
    done = set(state.done)
    numbers = [number for number in plan.numbers(phase) if number not in done]
    if made is not None:
        batched, shared = made
        wanted = set(numbers)
        if phase == 0 and wanted <= batched.first_phase.keys():
            ready = batched.first_phase
            encoded: Iterable[tuple[int, bytes, object]] = (
                (0, ready[number], None) for number in sorted(ready)
            )
        else:
            encoded = batched.encoded(plan.run_id, plan.job_id, plan.plan_hash, shared, plan.site)
        async with InFlight(IN_FLIGHT) as queueing:
            for number, (at, data, _) in enumerate(encoded, start=1):
                if at > phase:
                    break
                if number in wanted:
                    msg_id = work_id(plan.run_id, plan.plan_hash, number)
                    await queueing.start(
                        bus.publish_work_data(data, plan.job_id, msg_id, plan.site)
                    )
        batched.first_phase = {}
    elif plan.apart:
        for number in numbers:
            msg_id = work_id(plan.run_id, plan.plan_hash, number)
            kept = _published.get(msg_id)
            data = encode(kept) if kept is not None else await batch_data(bus, plan, number)
            await bus.publish_work_data(data, plan.job_id, msg_id, plan.site)
    else:  # a plan kept whole, by an earlier version
        for batch in plan.batches_of(phase):
            if batch.number in numbers:
                await bus.publish_work(batch)
    log.info("phase published", phase=phase, batches=len(numbers))

    def published(current: RunState | None) -> RunState | None:
        if current is None or current.published >= phase:
            return None
        current.published = phase
        return current

    await bus.runs.change(plan.run_id, published)
