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

from collections.abc import Iterator, Sequence

import structlog

from core.engine import phase_of
from core.engine.batching import each_batch
from schemas.event_ids import work_id
from schemas.plan import Change
from schemas.work import Shared, StoredPlan, WorkBatch, encode
from services.common.bus import Bus
from services.common.runs import RunState
from services.common.stored_plans import batch_data, save_batch, save_plan

log = structlog.get_logger("idsync.runner")

MAX_BATCH_BYTES = 512 * 1024  # well under the server's 1 MiB message limit
KEPT_CHANGES = 100_000
"""Changes of the batches built here kept for `recall` at most (those other runners take
are never pulled here: the oldest go first)."""
_published: dict[str, WorkBatch] = {}
_kept_changes = 0


class Batched:
    """A plan's batches in order — (phase index, number from 1, changes) — cut again each
    time they are read. A plan with nothing to do still has its apply phase: one empty
    batch, so every run reports how its apply went."""

    def __init__(self, changes: Sequence[Change], batch_size: int) -> None:
        self.changes = changes
        self.batch_size = batch_size

    def __iter__(self) -> Iterator[tuple[int, int, list[Change]]]:
        phase, last, number = -1, "", 0
        for batch in each_batch(self.changes, self.batch_size, MAX_BATCH_BYTES):
            number += 1
            if (name := phase_of(batch[0])) != last:
                phase, last = phase + 1, name
            yield phase, number, batch
        if number == 0:
            yield 0, 1, []

    def changes_by_batch(self) -> Iterator[list[Change]]:
        return (changes for _, _, changes in self)


def recall(msg_id: str) -> WorkBatch | None:
    """The batch of this id, if this process built it and has not pulled it yet."""
    global _kept_changes
    batch = _published.pop(msg_id, None)
    if batch is not None:
        _kept_changes -= len(batch.changes)
    return batch


def _keep(batch: WorkBatch) -> None:
    global _kept_changes
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
) -> StoredPlan:
    """Keep each batch, then the plan (how many batches each phase has)."""
    sizes: list[int] = []
    offered = 0
    for phase, number, changes in batched:
        batch = WorkBatch(
            run_id=run_id,
            job_id=job_id,
            plan_hash=plan_hash,
            phase=phase,
            number=number,
            changes=changes,
            shared=shared.get(number, []),
        )
        await save_batch(bus, batch)
        if offered < KEPT_CHANGES:  # this plan's first batches, those pulled first
            offered += len(changes)
            _keep(batch)
        if phase == len(sizes):
            sizes.append(0)
        sizes[phase] += 1
    stored = StoredPlan(run_id=run_id, job_id=job_id, plan_hash=plan_hash, phases=[], batches=sizes)
    await save_plan(bus, stored)
    return stored


def next_phase(state: RunState) -> int | None:
    """The first phase with batches still to apply; None when every batch is applied."""
    for phase in range(len(state.phases)):
        if not state.phase_done(phase):
            return phase
    return None


async def publish_phase(bus: Bus, plan: StoredPlan, state: RunState) -> None:
    """Put the batches of the first unfinished phase on the work queue (those not applied
    yet), then record that the phase is out. Publishing again is harmless: a batch is
    stored once within the duplicate window, and applied once whatever happens."""
    phase = next_phase(state)
    if phase is None:
        return
    done = set(state.done)
    numbers = [number for number in plan.numbers(phase) if number not in done]
    if plan.apart:
        for number in numbers:
            msg_id = work_id(plan.run_id, plan.plan_hash, number)
            kept = _published.get(msg_id)
            data = encode(kept) if kept is not None else await batch_data(bus, plan, number)
            await bus.publish_work_data(data, plan.job_id, msg_id)
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
