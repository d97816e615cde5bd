"""Each run's whole plan, batched by phase, in the object store: the runner that plans a
run keeps it there for every runner to apply, and the notifier attaches it to mails.

Kept as long as the journal keeps the run's events (the bucket's age limit).
"""

from __future__ import annotations

from schemas.work import StoredPlan, decode_plan, encode

from .bus import Bus
from .jetstream import PLANS_BUCKET

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
