"""The runner that puts a plan's batches on the work queue applies the ones it pulls back
from memory: what it recalls must be exactly what the work queue holds, and a plan kept
batch by batch goes on the work queue exactly as it was kept."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from schemas.plan import Change
from schemas.values import Record
from schemas.work import StoredPlan, WorkBatch, decode_batch, encode
from services.common.runs import RunState
from services.runner import plans


class Found:
    def __init__(self, data: bytes) -> None:
        self.data = data


class QueueAndStore:
    """What store_plan and publish_phase use of the bus: the object store, the work
    queue, and the run's state."""

    def __init__(self) -> None:
        self.queued: list[bytes] = []
        self.objects: dict[str, bytes] = {}
        self.runs = self
        self.js = self

    async def object_store(self, name: str) -> QueueAndStore:
        return self

    async def put(self, name: str, data: bytes) -> None:
        self.objects[name] = data

    async def get(self, name: str) -> Found:
        return Found(self.objects[name])

    async def publish_work_data(self, data: bytes, job_id: str, msg_id: str, site: str) -> None:
        batch = decode_batch(data)
        assert (batch.msg_id, batch.site) == (msg_id, site)  # to its site's queue
        self.queued.append(data)

    async def publish_work(self, batch: WorkBatch) -> None:
        self.queued.append(encode(batch))

    async def change(self, run_id: str, change: Any) -> None:
        change(RunState(job_id="j", state="run.planned"))


def changes(count: int) -> list[Change]:
    def create(n: int) -> Change:
        key = f"E{n:06d}"
        record: Record = {"id": key, "groups": ["a", "b"], "mail": f"{key}@example.org"}
        return Change(action="create", key=key, match={"id": key}, set=record)

    return [create(n) for n in range(count)]


def stored(bus: QueueAndStore, run_id: str, count: int, batch_size: int = 1) -> StoredPlan:
    batched = plans.Batched(changes(count), batch_size)
    return asyncio.run(plans.store_plan(bus, run_id, "j", "h" * 64, batched, {}))  # type: ignore[arg-type]


def publish(bus: QueueAndStore, plan: StoredPlan, made: plans.Made | None = None) -> None:
    state = RunState(
        job_id="j", state="run.planned", plan_hash=plan.plan_hash, phases=list(plan.batches)
    )
    asyncio.run(plans.publish_phase(bus, plan, state, made))  # type: ignore[arg-type]


def test_a_plan_kept_batch_by_batch_goes_on_the_work_queue_as_kept() -> None:
    bus = QueueAndStore()
    plan = stored(bus, "run-0", 7, batch_size=3)
    assert plan.batches == [3] and plan.phases == []
    publish(bus, plan)
    assert bus.queued == [bus.objects[f"run-0.{n}"] for n in (1, 2, 3)]
    queued = [c for data in bus.queued for c in decode_batch(data).changes]
    assert queued == changes(7)


@pytest.mark.parametrize("site", ["", "paris"])
def test_the_runner_that_stored_a_plan_puts_on_the_work_queue_what_it_stored(site: str) -> None:
    bus = QueueAndStore()
    batched = plans.Batched(changes(7), 3)
    plan = asyncio.run(plans.store_plan(bus, "run-5", "j", "h" * 64, batched, {}, site))  # type: ignore[arg-type]
    assert plan.site == site
    publish(bus, plan, (batched, {}))  # cut again from the plan held
    assert bus.queued == [bus.objects[f"run-5.{n}"] for n in (1, 2, 3)]
    bus.queued.clear()
    publish(bus, plan)  # read back from the object store
    assert bus.queued == [bus.objects[f"run-5.{n}"] for n in (1, 2, 3)]
    assert {decode_batch(data).site for data in bus.queued} == {site}


def test_a_recalled_batch_is_the_one_on_the_work_queue_and_is_recalled_once() -> None:
    bus = QueueAndStore()
    publish(bus, stored(bus, "run-1", 3))
    for data in bus.queued:
        queued = decode_batch(data)
        assert plans.recall(queued.msg_id) == queued
        assert plans.recall(queued.msg_id) is None  # a redelivery is decoded


def test_a_large_plan_keeps_only_its_first_batches_in_memory() -> None:
    bus = QueueAndStore()
    plan = stored(bus, "run-2", plans.KEPT_CHANGES + 5, batch_size=1000)
    publish(bus, plan)
    first, last = decode_batch(bus.queued[0]), decode_batch(bus.queued[-1])
    assert plans.recall(first.msg_id) == first
    assert plans.recall(last.msg_id) is None  # decoded from the work queue
    assert plans.recall("a message this process never published") is None


def test_batches_taken_by_other_runners_are_not_kept_for_ever() -> None:
    bus = QueueAndStore()
    old = stored(bus, "run-3", 10)
    stored(bus, "run-4", plans.KEPT_CHANGES)
    publish(bus, old)
    assert plans.recall(decode_batch(bus.queued[0]).msg_id) is None
