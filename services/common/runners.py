"""The runners' heartbeats, as everyone reads them: each runner says every few seconds
that it is alive and what it works on, in the runners bucket (services/runner/health.py
writes it); `idsync runner list`, `idsync doctor` and the workflow's `idsync_runners_alive`
metric read it here. A runner silent past three heartbeats is reported."""

from __future__ import annotations

from datetime import datetime

import msgspec
import nats.js.errors
from nats.js import JetStreamContext

from .jetstream import RUNNERS_BUCKET
from .reading import bucket_keys

SILENT_AFTER = 3  # heartbeats


class RunnerInfo(msgspec.Struct, kw_only=True):
    runner_id: str
    host: str
    pid: int
    started_at: datetime
    heartbeat_at: datetime
    interval: float
    working: list[str] = msgspec.field(default_factory=list)

    def silent_for(self, now: datetime) -> float:
        """Seconds since the last heartbeat, beyond what is expected (0 when alive)."""
        late = (now - self.heartbeat_at).total_seconds()
        return late if late > SILENT_AFTER * self.interval else 0.0


async def runners(js: JetStreamContext) -> list[RunnerInfo]:
    try:
        kv = await js.key_value(RUNNERS_BUCKET)
    except nats.js.errors.BucketNotFoundError:
        return []
    keys = await bucket_keys(js, RUNNERS_BUCKET)  # kv.keys() would need a consumer
    found = []
    for key in sorted(keys):
        try:
            entry = await kv.get(key)
        except (nats.js.errors.KeyNotFoundError, nats.js.errors.KeyDeletedError):
            continue  # a runner that said goodbye
        if entry.value:
            found.append(msgspec.json.decode(entry.value, type=RunnerInfo))
    return found


def runner_key(runner_id: str) -> str:
    """KV keys allow [-/_=.a-zA-Z0-9]: anything else in a runner id becomes '_'."""
    return "".join(c if c.isalnum() or c in "-_=." else "_" for c in runner_id)
