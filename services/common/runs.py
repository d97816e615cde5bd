"""Where each run stands, in the runs bucket, changed only by compare-and-set.

Several runners apply one run's batches at once; each records what it applied with a
compare-and-set update of the run's state, so exactly one of them sees a phase (and
the run) complete, and only that one publishes the next phase or `run.finished`.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime

import msgspec
from nats.js import JetStreamContext

from schemas.ids import utcnow
from schemas.plan import RunStats

from .jetstream import RUNS_BUCKET
from .state_bucket import StateBucket

ENDED = frozenset({"run.finished", "run.failed", "run.cancelled", "run.denied", "run.expired"})

_WORDS = {
    "run.requested": "it is asked for, not planned yet",
    "run.queued": "it waits for another run of its job to end",
    "run.approved": "it is approved, not planned yet",
    "run.awaiting-approval": "it waits for approval",
    "run.planned": "it is being applied",
    "run.batch-applied": "it is being applied",
    "run.finished": "it has finished",
    "run.failed": "it has failed",
    "run.cancelled": "it was cancelled",
    "run.denied": "it was denied",
    "run.expired": "it expired, unanswered",
}


def in_words(state: str) -> str:
    """Where a run stands, as a person says it: "it has finished" for `run.finished`."""
    return _WORDS.get(state, f"it is {state.removeprefix('run.').replace('-', ' ')}")


class RunState(msgspec.Struct, kw_only=True):
    job_id: str
    state: str
    """The tag of the run's latest lifecycle event, e.g. "run.planned"."""
    plan_hash: str = ""
    phases: list[int] = msgspec.field(default_factory=list)
    """How many batches each phase of the plan has."""
    published: int = -1
    """The last phase whose batches are on the work queue."""
    done: list[int] = msgspec.field(default_factory=list)
    """The numbers of the batches applied, or dropped as dead letters."""
    dead: list[int] = msgspec.field(default_factory=list)
    """The numbers of the batches that are dead letters now."""
    applied: RunStats = msgspec.field(default_factory=RunStats)
    """What the applied batches did."""
    planned: RunStats = msgspec.field(default_factory=RunStats)
    """What the plan found: records read, unchanged, skipped, and failed in planning."""
    failed_records: bytes = b""
    """The run's ledger: a bit per record shared by several batches, set once it has
    failed (zlib-compressed; services/runner/outcomes.py)."""
    approved_at: datetime | None = None
    planned_at: datetime | None = None
    """When the plan was kept and its first batches queued: the apply phase's start."""
    requested_by: str = ""
    answered_by: str = ""
    """Who approved the plan the run waits with: once set, no other answer is taken (the
    runner plans it again, and waits anew should the plan differ)."""
    keys: list[str] | None = None
    """Kept while the run waits for approval, to run it as it was asked for; and once it
    is planned, so that a run scoped to keys moves no watermark (runner/absences.py)."""
    trigger: str = "manual"
    """What asked for the run (manual, schedule, external), kept like `keys`."""
    changed_only: bool = False
    """Kept like `keys`: the run was asked for the changed records only."""
    incremental: bool = False
    """The plan read only changed source records (it acts on no absence)."""
    watermark: str | None = None
    """Where the job's next incremental run reads from, kept once this run finishes."""
    watermark_source: str = ""
    """The source `watermark` was read from (watermarks.source_of), as the field."""
    watermark_field: str | None = None
    """The change field `watermark` is a value of: the job's when it was planned (a job
    given another field meanwhile does not read from a value of the old one)."""
    updated_at: datetime = msgspec.field(default_factory=utcnow)

    @property
    def ended(self) -> bool:
        return self.state in ENDED

    def phase_done(self, phase: int) -> bool:
        first = sum(self.phases[:phase]) + 1
        wanted = set(range(first, first + self.phases[phase]))
        return wanted <= set(self.done)

    @property
    def all_done(self) -> bool:
        return bool(self.phases) and len(set(self.done)) >= sum(self.phases)


StateChange = Callable[[RunState | None], RunState | None]


class Runs(StateBucket[RunState]):
    """Each run's state, in the runs bucket."""

    def __init__(self, js: JetStreamContext) -> None:
        super().__init__(js, RUNS_BUCKET, RunState)

    async def change(
        self, run_id: str, change: StateChange
    ) -> tuple[RunState | None, RunState | None]:
        """Apply `change` to the run's state until no other writer got there first.
        Returns the state before and after (after is None when `change` left it alone)."""

        def stamped(state: RunState | None) -> RunState | None:
            after = change(state)
            if after is not None:
                after.updated_at = utcnow()
            return after

        return await super().change(run_id, stamped)
