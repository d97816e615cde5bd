"""Each job's claim (core/claims.py: its run going on, and the runs waiting for it, by
their ids: what each was asked for is its state in the runs bucket), in the claims
bucket: one small entry per job, changed by compare-and-set (state_bucket.py) by
the workflow alone (services/workflow/claims.py); anyone may read it.

A claim whose run ended without the workflow seeing its end (stopped just then) is given
up by the next request of the job, or by the workflow's periodic check: the run's state
in the runs bucket says it has ended.
"""

from __future__ import annotations

from nats.js import JetStreamContext

from core.claims import JobClaim

from .jetstream import CLAIMS_BUCKET
from .state_bucket import StateBucket


class Claims(StateBucket[JobClaim]):
    """Each job's claim, in the claims bucket."""

    def __init__(self, js: JetStreamContext) -> None:
        super().__init__(js, CLAIMS_BUCKET, JobClaim)
