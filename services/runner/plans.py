"""Putting a plan's phases on the work queue (the plans themselves: common/stored_plans.py)."""

from __future__ import annotations

import structlog

from schemas.work import StoredPlan
from services.common.bus import Bus
from services.common.runs import RunState

log = structlog.get_logger("idsync.runner")


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
