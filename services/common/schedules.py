"""Each schedule's latest fire, in the schedules bucket, changed by compare-and-set.

The scheduler keeps one entry per job and schedule (`<job>.<schedule>`): the latest fire
time handled and what became of it. Several schedulers agree through it: one claims a
fire time (a compare-and-set), decides and publishes, then records the outcome; the
others see the claim and leave that fire alone. A claim left unfinished (its scheduler
stopped) is taken over after CLAIM_TIMEOUT, with the same event ids, so nothing is
published twice. `idsync schedule list` reads the entries for the last fires.
"""

from __future__ import annotations

from datetime import datetime, timedelta

import msgspec
import nats.js.errors
from nats.js import JetStreamContext
from nats.js.kv import KeyValue

from .jetstream import SCHEDULES_BUCKET, not_set_up
from .reading import bucket_keys

CLAIM_TIMEOUT = timedelta(seconds=30)
_encoder = msgspec.json.Encoder()


class ScheduleState(msgspec.Struct, kw_only=True):
    job_id: str
    schedule: str
    spec: str
    """The schedule as it was (core/schedules.fingerprint), or "disabled": a changed or
    re-enabled schedule starts afresh, its old fire times not missed."""
    last: datetime
    """The latest fire time handled (or when the schedule was first seen)."""
    outcome: str = "seen"
    """seen | claimed | requested | skipped: what became of `last`."""
    run_id: str = ""
    """The run the latest fire asked for (or would have, when skipped)."""
    note: str = ""
    """Why a fire was skipped; how many were missed before it."""
    claimed_at: datetime | None = None
    claimed_by: str = ""
    kind: str = "job"
    """What the schedule starts: a job, or a collection (`job_id` is then its id)."""


_decoder = msgspec.json.Decoder(ScheduleState)


def state_key(job_id: str, schedule: str, kind: str = "job") -> str:
    """`<job>.<schedule>`, or `_collection.<collection>.<schedule>` (no id starts with _)."""
    return f"{job_id}.{schedule}" if kind == "job" else f"_collection.{job_id}.{schedule}"


class Schedules:
    def __init__(self, js: JetStreamContext) -> None:
        self.js = js
        self._kv: KeyValue | None = None

    async def _bucket(self) -> KeyValue:
        if self._kv is None:
            try:
                self._kv = await self.js.key_value(SCHEDULES_BUCKET)
            except nats.js.errors.BucketNotFoundError:
                raise not_set_up(f"bucket {SCHEDULES_BUCKET}") from None
        return self._kv

    async def read(self, key: str) -> tuple[ScheduleState | None, int | None]:
        """The state and its revision (None, None: there is none)."""
        try:
            entry = await (await self._bucket()).get(key)
        except (nats.js.errors.KeyNotFoundError, nats.js.errors.KeyDeletedError):
            return None, None
        if entry.value is None:
            return None, entry.revision
        return _decoder.decode(entry.value), entry.revision

    async def write(self, key: str, state: ScheduleState, revision: int | None) -> int | None:
        """Store `state` if the entry is still at `revision` (None: absent): its new
        revision, or None when another scheduler changed it first."""
        kv = await self._bucket()
        data = _encoder.encode(state)
        try:
            if revision is None:
                return int(await kv.create(key, data))
            return int(await kv.update(key, data, last=revision))
        except (nats.js.errors.KeyWrongLastSequenceError, nats.js.errors.BadRequestError):
            return None

    async def all(self) -> list[ScheduleState]:
        found = [(await self.read(key))[0] for key in await bucket_keys(self.js, SCHEDULES_BUCKET)]
        return [state for state in found if state is not None]
