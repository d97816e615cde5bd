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
from nats.js import JetStreamContext

from .jetstream import SCHEDULES_BUCKET
from .state_bucket import StateBucket

CLAIM_TIMEOUT = timedelta(seconds=30)


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


def state_key(job_id: str, schedule: str, kind: str = "job") -> str:
    """`<job>.<schedule>`, or `_collection.<collection>.<schedule>` (no id starts with _)."""
    return f"{job_id}.{schedule}" if kind == "job" else f"_collection.{job_id}.{schedule}"


class Schedules(StateBucket[ScheduleState]):
    """Each schedule's latest fire, by `state_key`."""

    def __init__(self, js: JetStreamContext) -> None:
        super().__init__(js, SCHEDULES_BUCKET, ScheduleState)
