"""Where each run stands, in the runs bucket, changed only by compare-and-set.

Several runners apply one run's batches at once; each records what it applied with a
compare-and-set update of the run's state, so exactly one of them sees a phase (and
the run) complete, and only that one publishes the next phase or `run.finished`.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime

import msgspec
import nats.js.errors
from nats.js import JetStreamContext
from nats.js.kv import KeyValue

from schemas.ids import utcnow
from schemas.plan import RunStats

from .jetstream import RUNS_BUCKET

ENDED = frozenset({"run.finished", "run.failed", "run.cancelled", "run.denied", "run.expired"})
_encoder = msgspec.json.Encoder()


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
    requested_by: str = ""
    keys: list[str] | None = None
    """Kept while the run waits for approval, to run it as it was asked for."""
    trigger: str = "manual"
    """What asked for the run (manual, schedule, external), kept like `keys`."""
    changed_only: bool = False
    """Kept like `keys`: the run was asked for the changed records only."""
    incremental: bool = False
    """The plan read only changed source records (it acts on no absence)."""
    watermark: str | None = None
    """Where the job's next incremental run reads from, kept once this run finishes."""
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


_decoder = msgspec.json.Decoder(RunState)

StateChange = Callable[[RunState | None], RunState | None]


class Runs:
    def __init__(self, js: JetStreamContext) -> None:
        self.js = js
        self._kv: KeyValue | None = None

    async def _bucket(self) -> KeyValue:
        if self._kv is None:
            self._kv = await self.js.key_value(RUNS_BUCKET)
        return self._kv

    async def get(self, run_id: str) -> RunState | None:
        state, _ = await self._read(run_id)
        return state

    async def _read(self, run_id: str) -> tuple[RunState | None, int | None]:
        try:
            entry = await (await self._bucket()).get(run_id)
        except (nats.js.errors.KeyNotFoundError, nats.js.errors.KeyDeletedError):
            return None, None
        if entry.value is None:
            return None, entry.revision
        return _decoder.decode(entry.value), entry.revision

    async def change(
        self, run_id: str, change: StateChange
    ) -> tuple[RunState | None, RunState | None]:
        """Apply `change` to the run's state until no other writer got there first.
        Returns the state before and after (after is None when `change` left it alone)."""
        kv = await self._bucket()
        while True:
            before, revision = await self._read(run_id)
            # The change gets its own copy (lists included) to modify.
            after = change(_decoder.decode(_encoder.encode(before)) if before else None)
            if after is None:
                return before, None
            after.updated_at = utcnow()
            data = _encoder.encode(after)
            try:
                if revision is None:
                    await kv.create(run_id, data)
                else:
                    await kv.update(run_id, data, last=revision)
            except nats.js.errors.KeyWrongLastSequenceError:
                continue  # another runner changed it meanwhile: read it again
            return before, after
