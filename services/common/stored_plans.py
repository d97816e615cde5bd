"""Each run's whole plan, batched by phase, in the object store: the runner that plans a
run keeps it there for every runner to apply, and the notifier attaches it to mails.

A plan is one object under the run's id: its batches inline (as plans were first kept),
or — as a runner keeps them now — a list of how many batches each phase has, each batch
kept apart as the object `<run>.<number>`, encoded as it goes on the work queue, so a
plan of a million changes is written, read and put on the work queue a batch at a time.
Kept as long as the journal keeps the run's events (the bucket's age limit).
"""

from __future__ import annotations

import weakref
from collections.abc import AsyncIterator

from nats.js import JetStreamContext
from nats.js.object_store import ObjectStore

from schemas.plan import Change
from schemas.work import StoredPlan, WorkBatch, decode_batch, decode_plan, encode

from .bus import Bus
from .jetstream import PLANS_BUCKET

_stores: weakref.WeakKeyDictionary[JetStreamContext, ObjectStore] = weakref.WeakKeyDictionary()

# The plans of runs in progress, so a runner reads each plan once, not once per phase.
_cache: dict[str, StoredPlan] = {}
CACHED_PLANS = 8


def batch_name(run_id: str, number: int) -> str:
    return f"{run_id}.{number}"


async def save_batch(bus: Bus, run_id: str, number: int, data: bytes) -> None:
    """Keep one batch of a plan kept apart, encoded as it goes on the work queue (before
    the plan itself: `save_plan`)."""
    await (await _plans(bus)).put(batch_name(run_id, number), data)


async def _plans(bus: Bus) -> ObjectStore:
    """The plans' object store, looked up once per connection (each lookup asks the
    server for the bucket's stream: a round trip per batch saved, before)."""
    store = _stores.get(bus.js)
    if store is None:
        store = _stores[bus.js] = await bus.js.object_store(PLANS_BUCKET)
    return store


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


async def batch_data(bus: Bus, plan: StoredPlan, number: int) -> bytes:
    """Batch `number` of a plan kept apart, encoded as it goes on the work queue."""
    store = await bus.js.object_store(PLANS_BUCKET)
    return (await store.get(batch_name(plan.run_id, number))).data or b""


async def batch_of(bus: Bus, plan: StoredPlan, number: int) -> WorkBatch | None:
    """Batch `number` (from 1, across phases) of a stored plan; None if it has none."""
    if not 1 <= number <= sum(plan.batches or [len(batches) for batches in plan.phases]):
        return None
    if plan.apart:
        return decode_batch(await batch_data(bus, plan, number))
    phase = next(p for p in range(len(plan.phases)) if number in plan.numbers(p))
    return plan.batches_of(phase)[number - plan.numbers(phase).start]


async def changes_of(bus: Bus, plan: StoredPlan) -> AsyncIterator[Change]:
    """Every change of the plan, in order."""
    if not plan.apart:
        for batches in plan.phases:
            for batch in batches:
                for change in batch:
                    yield change
        return
    for number in range(1, sum(plan.batches) + 1):
        for change in decode_batch(await batch_data(bus, plan, number)).changes:
            yield change


def forget_plan(run_id: str) -> None:
    _cache.pop(run_id, None)


def _remember(plan: StoredPlan) -> None:
    _cache[plan.run_id] = plan
    while len(_cache) > CACHED_PLANS:
        _cache.pop(next(iter(_cache)))
