"""The runs waiting for approval: one entry each in the approvals bucket, kept by the
workflow, read by `idsync run approvals`, and checked periodically for expiry.

Whether a run waits is decided by its state in the runs bucket (compare-and-set, so
one answer wins); this bucket is the list of them — who asked, why, who may answer,
until when, and for a plan over the safety limits its summary and hash.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta
from typing import TYPE_CHECKING

import msgspec

from schemas.event_ids import expired_id
from schemas.events import RunAwaitingApproval, RunExpired
from schemas.ids import utcnow
from services.common.approvals import WAITING, Waiting, waiting
from services.common.jetstream import APPROVALS_BUCKET
from services.common.logging import get_logger
from services.common.runs import RunState
from services.common.users import load as load_users

from . import gate

if TYPE_CHECKING:  # the command line lists approvals without loading FastStream
    from services.common.bus import Bus

Clock = Callable[[], datetime]

log = get_logger("idsync.workflow")
_encoder = msgspec.json.Encoder()


async def record(bus: Bus, event: RunAwaitingApproval) -> None:
    """Keep the wait in the list, unless the run has moved on meanwhile (an old event
    delivered again must not bring back a wait that was answered — a plan approved, too,
    which waits for its runner)."""
    state = await bus.runs.get(event.run_id)
    if state is None or state.state != WAITING or (state.plan_hash or None) != event.plan_hash:
        return
    if state.answered_by:
        return
    job = await bus.store.find_job(event.job_id)
    if job is None:  # deleted meanwhile: nobody is left to approve it
        reason = f"job {event.job_id} was deleted while the run waited for approval"
        await cancel_waiting(bus, event.run_id, event.job_id, "workflow", reason)
        return
    approvers = event.approvers or gate.approvers(job, load_users(bus.settings.home))
    expires_at = event.expires_at or event.at + timedelta(
        seconds=gate.expiry_seconds(job, bus.settings.approval_expiry)
    )
    entry = Waiting(
        run_id=event.run_id,
        job_id=event.job_id,
        reason=event.reason,
        since=event.at,
        expires_at=expires_at,
        requested_by=event.requested_by or state.requested_by,
        trigger=event.trigger if event.requested_by else state.trigger,
        keys=state.keys,
        approvers=approvers,
        plan_hash=event.plan_hash,
        counts=event.counts,
    )
    kv = await bus.js.key_value(APPROVALS_BUCKET)
    await kv.put(event.run_id, _encoder.encode(entry))


async def forget(bus: Bus, run_id: str) -> None:
    kv = await bus.js.key_value(APPROVALS_BUCKET)
    await kv.delete(run_id)  # a marker: deleting what is not there is no error


async def cancel_waiting(bus: Bus, run_id: str, job_id: str, by: str, reason: str) -> bool:
    """Cancel the run (`ending.cancel_run`) and take it off the approvals list, should it
    wait: a cancelled run waits for nobody. False when it had ended already."""
    from services.common.ending import cancel_run  # FastStream's Bus: see TYPE_CHECKING

    cancelled = await cancel_run(bus, run_id, job_id, by, reason)
    await forget(bus, run_id)
    return cancelled


class Expiry:
    """Ends the runs nobody answered in time. The clock is a parameter, so a test skips
    a day without waiting one."""

    def __init__(self, bus: Bus, clock: Clock = utcnow) -> None:
        self.bus = bus
        self.clock = clock

    async def expire_due(self) -> list[str]:
        """End every wait past its time `run.expired`; the run ids ended."""
        now = self.clock()
        ended: list[str] = []
        for entry in await waiting(self.bus.js):
            if entry.expires_at > now:
                continue
            if await self._expire(entry):
                ended.append(entry.run_id)
            await forget(self.bus, entry.run_id)
        return ended

    async def _expire(self, entry: Waiting) -> bool:
        def expired(current: RunState | None) -> RunState | None:
            if current is None or current.state != WAITING:
                return None  # answered, cancelled or ended meanwhile
            current.state = "run.expired"
            return current

        if (await self.bus.runs.change(entry.run_id, expired))[1] is None:
            return False
        waited = entry.expires_at - entry.since
        await self.bus.publish(
            RunExpired(
                run_id=entry.run_id,
                job_id=entry.job_id,
                id=expired_id(entry.run_id),
                reason=f"nobody answered within {_duration(waited)}: {entry.reason}",
            )
        )
        log.info("approval expired", run_id=entry.run_id, job_id=entry.job_id)
        return True


def _duration(span: timedelta) -> str:
    """The wait as people set it ("1h", "2d"): to the minute, since the clock started
    when the request was made and the entry a moment later."""
    minutes = round(span.total_seconds() / 60)
    if minutes >= 60 and minutes % 60 == 0:
        return f"{minutes // 60} h"
    return f"{minutes} min" if minutes else f"{span.total_seconds():.0f} s"
