"""A job's claim as a queue (pure): the one run of the job let through to planning, and
the runs asked for meanwhile, waiting in the order they were asked for. The workflow
keeps it in the claims bucket (services/common/claims.py) and changes it by these
functions only, by compare-and-set (services/workflow/claims.py); nothing here waits
or reads.

A claim is no lease with a time limit: whether its run still holds the job is that
run's own state (it holds it until it has ended: finished, failed, cancelled, denied,
expired), which the caller reads and passes as `ended`. So a long run never loses it.

A claim names runs by their ids only, never holds their requests: a request from another
system may name tens of thousands of keys, as large as a message may be, and a claim
must stay one message however many runs wait. What a waiting run was asked for is its
own state in the runs bucket, recorded when it was said to wait.
"""

from __future__ import annotations

from datetime import datetime

import msgspec

from schemas.events import RunRequested

QUEUED = "run.queued"
"""A run's state (runs bucket) while it waits in its job's claim for the runs before it."""


class JobClaim(msgspec.Struct, kw_only=True):
    job_id: str
    run_id: str = ""
    """The run let through: the job's one run going on ("": none)."""
    since: datetime | None = None
    """When it took the claim (a queued run's wait for approval counts from then)."""
    queue: list[str] = msgspec.field(default_factory=list)
    """The runs asked for while it goes on (their ids), oldest first: each waits its turn."""

    def holds(self, run_id: str) -> bool:
        return self.run_id == run_id

    def waits(self, run_id: str) -> bool:
        return run_id in self.queue

    @property
    def runs(self) -> list[str]:
        """The holder (if any) and the queued runs, in turn."""
        return ([self.run_id] if self.run_id else []) + self.queue


def take(claim: JobClaim | None, request: RunRequested, now: datetime) -> JobClaim | None:
    """The claim with `request` holding it, or waiting behind the run that does; None when
    nothing changes (it holds it, or waits in it, already: a request delivered again)."""
    if claim is None:
        claim = JobClaim(job_id=request.job_id)
    if claim.holds(request.run_id) or claim.waits(request.run_id):
        return None
    if claim.run_id:
        claim.queue.append(request.run_id)
    else:
        claim.run_id, claim.since = request.run_id, now
    return claim


def release(claim: JobClaim | None, ended: set[str], now: datetime) -> JobClaim | None:
    """The claim once the runs `ended` have: out of the queue, and the holder's place given
    to the first run still waiting. None when none of them was in it."""
    if claim is None or not (set(claim.runs) & ended):
        return None
    claim.queue = [queued for queued in claim.queue if queued not in ended]
    if claim.run_id in ended:
        claim.run_id = claim.queue.pop(0) if claim.queue else ""
        claim.since = now if claim.run_id else None
    return claim
