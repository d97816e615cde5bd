"""The list of runs waiting for approval, as everyone reads it (the workflow keeps it in
the approvals bucket: services/workflow/approvals.py), and who may answer each."""

from __future__ import annotations

from datetime import datetime

import msgspec
import nats.js.errors
from nats.js import JetStreamContext

from core.checks.principals import same
from schemas.plan import PlanCounts

from .jetstream import APPROVALS_BUCKET
from .reading import bucket_keys

WAITING = "run.awaiting-approval"
"""A run's state while it waits for an approval."""


class Waiting(msgspec.Struct, kw_only=True):
    run_id: str
    job_id: str
    reason: str
    since: datetime
    expires_at: datetime
    requested_by: str = ""
    trigger: str = "manual"
    keys: list[str] | None = None
    approvers: list[str] = msgspec.field(default_factory=list)
    """Empty: anyone but the requester may approve."""
    plan_hash: str | None = None
    counts: PlanCounts | None = None


_encoder = msgspec.json.Encoder()
_decoder = msgspec.json.Decoder(Waiting)


_decoder = msgspec.json.Decoder(Waiting)


async def waiting(js: JetStreamContext) -> list[Waiting]:
    """Every wait in the list, oldest first (read-only: people use it too)."""
    kv = await js.key_value(APPROVALS_BUCKET)
    found: list[Waiting] = []
    for key in await bucket_keys(js, APPROVALS_BUCKET):
        try:
            entry = await kv.get(key)
        except (nats.js.errors.KeyNotFoundError, nats.js.errors.KeyDeletedError):
            continue
        if entry.value:
            found.append(_decoder.decode(entry.value))
    return sorted(found, key=lambda w: (w.since, w.run_id))


def may_answer(entry: Waiting, me: str) -> bool:
    """Whether `me` is among those the run waits for (nobody approves their own request)."""
    if same(entry.requested_by, me) and entry.approvers:
        return False
    return not entry.approvers or any(same(me, a) for a in entry.approvers)
