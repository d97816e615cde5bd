"""Plans in the object store, and putting a plan's phases on the work queue."""

from __future__ import annotations

import structlog

from schemas.work import StoredPlan, decode_plan, encode
from services.common.bus import Bus
from services.common.jetstream import PLANS_BUCKET
from services.common.runs import RunState

log = structlog.get_logger("idsync.runner")

# The plans of runs in progress, so a runner reads each plan once, not once per phase.
_cache: dict[str, StoredPlan] = {}
CACHED_PLANS = 8


async def save_plan(bus: Bus, plan: StoredPlan) -> None:
    store = await bus.js.object_store(PLANS_BUCKET)
    await store.put(plan.run_id, encode(plan))
    _remember(plan)


async def load_plan(bus: Bus, run_id: str) -> StoredPlan:
    cached = _cache.get(run_id)
    if cached is not None:
        return cached
    store = await bus.js.object_store(PLANS_BUCKET)
    found = await store.get(run_id)
    plan = decode_plan(found.data or b"")
    _remember(plan)
    return plan


def forget_plan(run_id: str) -> None:
    _cache.pop(run_id, None)


def _remember(plan: StoredPlan) -> None:
    _cache[plan.run_id] = plan
    while len(_cache) > CACHED_PLANS:
        _cache.pop(next(iter(_cache)))


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
        await bus.publish_work(batch)
    log.info("phase published", phase=phase, batches=len(batches))

    def published(current: RunState | None) -> RunState | None:
        if current is None or current.published >= phase:
            return None
        current.published = phase
        return current

    await bus.runs.change(plan.run_id, published)
