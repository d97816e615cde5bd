"""Putting a plan's phases on the work queue (the plans themselves: common/stored_plans.py).

The batches this process puts on the work queue stay in memory until this process pulls
them (`recall`), so the runner that planned a run applies its share without decoding what
it has just encoded. Nothing else changes: each batch is on the work queue, acknowledged
once applied, redelivered (and then decoded) if this process dies first.
"""

from __future__ import annotations

import structlog

from schemas.work import StoredPlan, WorkBatch
from services.common.bus import Bus
from services.common.runs import RunState

log = structlog.get_logger("idsync.runner")

KEPT_BATCHES = 2_000
"""Published batches kept for `recall` at most (those other runners take are never pulled
here: the oldest go first)."""
_published: dict[str, WorkBatch] = {}


def recall(msg_id: str) -> WorkBatch | None:
    """The batch of this id, if this process published it and has not pulled it yet."""
    return _published.pop(msg_id, None)


def _keep(batch: WorkBatch) -> None:
    _published[batch.msg_id] = batch
    while len(_published) > KEPT_BATCHES:
        _published.pop(next(iter(_published)))


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
    batches = [batch for batch in plan.batches_of(phase) if batch.number not in done]
    for batch in batches:
        _keep(batch)
        await bus.publish_work(batch)
    log.info("phase published", phase=phase, batches=len(batches))

    def published(current: RunState | None) -> RunState | None:
        if current is None or current.published >= phase:
            return None
        current.published = phase
        return current

    await bus.runs.change(plan.run_id, published)
