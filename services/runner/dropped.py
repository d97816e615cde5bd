"""A batch dropped as a dead letter (`run.batch-dropped`, which the workflow publishes
when someone runs `idsync deadletter drop`): its records count as failed, once, and the
run goes on to its next phase or its end."""

from __future__ import annotations

from schemas.events import RunBatchDropped
from schemas.plan import RunStats
from schemas.work import WorkBatch
from services.common.bus import Bus
from services.common.deadletters import not_dead
from services.common.runs import RunState, StateChange
from services.common.stored_plans import batch_of, load_plan

from .outcomes import Ledger, count_batch
from .work import advance


async def count_dropped(bus: Bus, event: RunBatchDropped) -> None:
    """Count the dropped batch's records as failed and let the run go on (once: the
    run's state records the batch as done; a batch of a plan no longer in force is not
    counted)."""
    state = await bus.runs.get(event.run_id)
    if state is None or state.plan_hash != event.plan_hash:
        return
    batch = await batch_of(bus, await load_plan(bus, event.run_id), event.batch)
    if batch is None:
        return
    await bus.runs.change(event.run_id, dropped(batch))
    await advance(bus, batch)


def dropped(batch: WorkBatch) -> StateChange:
    def change(state: RunState | None) -> RunState | None:
        if state is None or state.plan_hash != batch.plan_hash:
            return None
        not_dead(batch.number)(state)
        if batch.number not in state.done:
            ledger = Ledger(state.failed_records)
            abandoned = [f"batch {batch.number} dropped"] * len(batch.changes)
            failed = count_batch(batch, abandoned, ledger, set(state.done))
            state.failed_records = ledger.encode()
            state.done.append(batch.number)
            state.applied = state.applied.add(failed).add(RunStats(dead_letters=1))
        return state

    return change
