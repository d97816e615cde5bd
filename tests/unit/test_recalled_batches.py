"""The runner that puts a plan's batches on the work queue applies the ones it pulls back
from memory: what it recalls must be exactly what the work queue holds."""

from __future__ import annotations

import asyncio
from typing import Any

from schemas.plan import Change
from schemas.values import Record
from schemas.work import StoredPlan, WorkBatch, decode_batch, encode
from services.common.runs import RunState
from services.runner import plans


class QueueOnly:
    """What publish_phase uses of the bus: the work queue, and the run's state."""

    def __init__(self) -> None:
        self.queued: list[bytes] = []
        self.runs = self

    async def publish_work(self, batch: WorkBatch) -> None:
        self.queued.append(encode(batch))

    async def change(self, run_id: str, change: Any) -> None:
        change(RunState(job_id="j", state="run.planned"))


def stored_plan(run_id: str, batches: int) -> StoredPlan:
    def batch(n: int) -> list[Change]:
        key = f"E{n}"
        record: Record = {"id": key, "groups": ["a", "b"], "mail": f"{key}@example.org"}
        return [Change(action="create", key=key, match={"id": key}, set=record)]

    return StoredPlan(
        run_id=run_id, job_id="j", plan_hash="h" * 64, phases=[[batch(n) for n in range(batches)]]
    )


def test_a_recalled_batch_is_the_one_on_the_work_queue_and_is_recalled_once() -> None:
    bus = QueueOnly()
    plan = stored_plan("run-1", 3)
    state = RunState(job_id="j", state="run.planned", plan_hash=plan.plan_hash, phases=[3])
    asyncio.run(plans.publish_phase(bus, plan, state))  # type: ignore[arg-type]
    for data in bus.queued:
        queued = decode_batch(data)
        assert plans.recall(queued.msg_id) == queued
        assert plans.recall(queued.msg_id) is None  # a redelivery is decoded


def test_batches_taken_by_other_runners_are_not_kept_for_ever() -> None:
    bus = QueueOnly()
    plan = stored_plan("run-2", plans.KEPT_BATCHES + 5)
    phases = [plans.KEPT_BATCHES + 5]
    state = RunState(job_id="j", state="run.planned", plan_hash=plan.plan_hash, phases=phases)
    asyncio.run(plans.publish_phase(bus, plan, state))  # type: ignore[arg-type]
    first, last = decode_batch(bus.queued[0]), decode_batch(bus.queued[-1])
    assert plans.recall(first.msg_id) is None
    assert plans.recall(last.msg_id) == last
    assert plans.recall("a message this process never published") is None
