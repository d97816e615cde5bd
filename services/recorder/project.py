"""Projecting the journal into the history database, one event at a time.

Each event is kept (by its id, with its journal sequence), then its run's story is
folded again from the run's events in journal order — the one fold, core/runs.py —
and the run's row and record errors replaced. An applied (or dropped) batch becomes
rows of changes, read from the run's stored plan (core/history.py turns them into
rows, secrets left out). Everything is written in one transaction per event, and the
event is acknowledged after it: an event delivered again writes the same rows again.
"""

from __future__ import annotations

import asyncio
from datetime import datetime
from typing import Any

import msgspec
import nats.js.errors

from core.errors import NotFound
from core.history import Secrets, batch_rows, found_by_key, secrets_of
from core.runs import RunStory, fold
from schemas.events import (
    Event,
    JobHistoryForgotten,
    RoleChanged,
    RunBatchApplied,
    RunBatchDropped,
    RunPasswordsSealed,
    RunRecordErrors,
    RunStarted,
    decode_event,
    encode_event,
    tag_of,
)
from schemas.history import ChangeRow, Outcome
from schemas.jobs import Job
from schemas.plan import Change, RecordError
from schemas.work import StoredPlan, listed
from services.common.bus import Bus
from services.common.logging import get_logger
from services.common.stored_plans import batch_of, load_plan

from .database import Database, stamp, upsert
from .forget import forget, forgotten_at
from .versions import Versions, planned_at, version_at

log = get_logger("idsync.recorder")
_story = msgspec.json.Encoder()
KEPT_SECRETS = 64
KEPT_RUNS = 16


class Recorder:
    """Writes what each journal event adds to the history (one event at a time)."""

    def __init__(self, bus: Bus | None, db: Database) -> None:
        self.bus = bus
        self.db = db
        self.lock = asyncio.Lock()
        """One transaction at a time on the one writing connection."""
        self.versions = Versions(bus, db, self.lock)
        self._secrets: dict[tuple[str, int], tuple[Secrets, bool]] = {}
        self._events: dict[str, list[tuple[int, Event]]] = {}
        """The latest runs' events in journal order (sequence, event): what the fold
        needs, without reading and decoding them all again for each event."""
        self._plan: StoredPlan | None = None
        """The stored plan last read: a run's batches all come from it."""
        self._forgotten: dict[str, int] | None = None
        """Per job, the journal sequence its history was last forgotten at (forget.py)."""

    async def record(self, event: Event, seq: int, stored: datetime | None = None) -> None:
        """`stored`: when the server stored the event (its own time when not given)."""
        if isinstance(event, RunStarted):
            await self.versions.catch_up()  # the job it is about to read is recorded
        if isinstance(event, RoleChanged):  # about no run: kept as it is, never pruned
            async with self.lock, self.db.transaction():
                await self._keep(event, seq, stamp(stored or event.at))
            return
        async with self.lock:
            if isinstance(event, JobHistoryForgotten):
                await self._forget(event, seq, stamp(stored or event.at))
            else:
                await self._record(event, seq, stamp(stored or event.at))

    async def _forget(self, event: JobHistoryForgotten, seq: int, stored: str) -> None:
        """Forget the job's runs before the event (forget.py); the runs with events after
        it are told again from those."""
        self._events.clear()  # read again from what is committed
        forgotten = await self._forgotten_at()
        before = forgotten.get(event.job_id, 0)
        async with self.db.transaction():
            await self._keep(event, seq, stored)
            for run_id in await forget(self.db, event.job_id, seq, before):
                found = await self.db.fetchall(
                    "SELECT body FROM events WHERE run_id = ? ORDER BY seq", (run_id,)
                )
                events = [decode_event(body) for (body,) in found]
                if not events:
                    continue
                await self._tell(fold(events)[0])
                for later in events:
                    if isinstance(later, RunBatchApplied | RunBatchDropped):
                        await self._batch(run_id, later.batch, events)
        forgotten[event.job_id] = max(seq, before)
        log.info("history of a deleted job forgotten", job_id=event.job_id, by=event.by)

    async def _forgotten_at(self) -> dict[str, int]:
        if self._forgotten is None:
            self._forgotten = await forgotten_at(self.db)
        return self._forgotten

    async def _record(self, event: Event, seq: int, stored: str) -> None:
        if seq < (await self._forgotten_at()).get(event.job_id, 0):
            return  # its job's history was forgotten after it (it reached us late)
        try:
            async with self.db.transaction():
                kept = await self._keep(event, seq, stored)
                events = await self._events_of(event.run_id, seq, kept)
                await self._tell(fold(events)[0])
                match event:
                    case RunBatchApplied(batch=batch) | RunRecordErrors(batch=int(batch)):
                        await self._batch(event.run_id, batch, events)
                    case RunBatchDropped(batch=batch):
                        await self._batch(event.run_id, batch, events)
                    case _:
                        pass
        except BaseException:
            self._events.pop(event.run_id, None)  # read again from what was committed
            raise

    async def _keep(self, event: Event, seq: int, stored: str) -> Event:
        """Write the event; the event as written."""
        if isinstance(event, RunPasswordsSealed):
            # Sealed to the notifier alone: which records got one is history, the seal not.
            sealed = [msgspec.structs.replace(p, sealed="") for p in event.passwords]
            event = msgspec.structs.replace(event, passwords=sealed)
        await self.db.execute(
            INSERT_EVENT,
            (
                event.id,
                seq,
                event.run_id,
                event.job_id,
                tag_of(event),
                event.at.isoformat(),
                encode_event(event),
                stored,
            ),
        )
        return event

    async def _events_of(self, run_id: str, seq: int, event: Event) -> list[Event]:
        """The run's events in journal order, `event` (just kept) among them."""
        known = self._events.get(run_id)
        if (
            known is None
            or any(e.id == event.id for _, e in known)
            or (known and known[-1][0] > seq)
        ):
            # Not in memory, or delivered again: as the database holds them.
            found = await self.db.fetchall(
                "SELECT seq, body FROM events WHERE run_id = ? ORDER BY seq", (run_id,)
            )
            known = [(s, decode_event(body)) for s, body in found]
        else:
            known.append((seq, event))
        self._events.pop(run_id, None)
        while len(self._events) >= KEPT_RUNS:
            self._events.pop(next(iter(self._events)))
        self._events[run_id] = known
        return [e for _, e in known]

    async def _tell(self, story: RunStory) -> None:
        errors = story.errors
        told = msgspec.structs.replace(story, errors=[])
        await self.db.execute(
            INSERT_RUN,
            (
                story.run_id,
                story.job_id,
                story.state,
                story.trigger,
                story.requested_by,
                _iso(story.requested_at),
                story.approved_by,
                story.plan_hash,
                story.reason,
                story.stats.written,
                story.stats.failed,
                story.duration,
                _iso(story.ended_at),
                _story.encode(told),
            ),
        )
        await self.db.execute("DELETE FROM record_errors WHERE run_id = ?", (story.run_id,))
        await self.db.executemany(
            "INSERT INTO record_errors (run_id, n, key, object_type, action, message, skipped) "
            "VALUES (?, ?, ?, ?, ?, ?, ?)",
            [
                (story.run_id, n, e.key, e.object_type, e.action, e.message, int(e.skipped))
                for n, e in enumerate(errors)
            ],
        )

    async def _batch(self, run_id: str, batch: int, events: list[Event]) -> None:
        """The rows of one batch, from what the run's events say of it so far."""
        done: RunBatchApplied | RunBatchDropped | None = None
        parts: dict[int, list[RecordError]] = {}
        for event in events:
            match event:
                case RunBatchApplied() | RunBatchDropped() if event.batch == batch:
                    done = event
                case RunRecordErrors(batch=b, part=part, errors=errors) if b == batch:
                    parts[part] = errors
                case _:
                    pass
        if done is None:
            return  # its errors came first: the rows are written when the batch is
        errors = [e for part in sorted(parts) for e in parts[part]]
        outcome: Outcome = "dropped"
        if isinstance(done, RunBatchApplied):
            errors = [*done.errors, *errors]
            outcome = "applied"
        changes, note = await self._changes(done.run_id, done.plan_hash, batch)
        job_id, at = done.job_id, done.at.isoformat()
        secrets, by_key = await self._job_facts(job_id, run_id)
        rows = batch_rows(
            run_id,
            job_id,
            batch,
            changes,
            secrets,
            errors=errors,
            outcome=outcome,
            at=at,
            by_key=by_key,
        )
        await self.db.execute(
            INSERT_BATCH,
            (run_id, batch, done.plan_hash, outcome, at, len(rows), note),
        )
        await self.db.execute("DELETE FROM changes WHERE run_id = ? AND batch = ?", (run_id, batch))
        await self.db.executemany(INSERT_CHANGE, [change_values(row) for row in rows])

    async def _changes(self, run_id: str, plan_hash: str, batch: int) -> tuple[list[Change], str]:
        """The batch's changes from the run's stored plan, or none and why."""
        if self.bus is None:
            return [], "no plan store"
        try:
            plan = self._plan
            if plan is None or plan.run_id != run_id or plan.plan_hash != plan_hash:
                self._plan = None  # one plan held at a time
                plan = self._plan = await load_plan(self.bus, run_id)
        except nats.js.errors.NotFoundError:
            log.warning("plan no longer kept: batch not recorded", run_id=run_id, batch=batch)
            return [], "the run's plan is no longer kept"
        if plan.plan_hash != plan_hash:
            return [], f"the stored plan is {plan.plan_hash[:12]}, not {plan_hash[:12]}"
        found = await batch_of(self.bus, plan, batch)
        return (listed(found.changes) if found is not None else []), ""

    async def _job_facts(self, job_id: str, run_id: str) -> tuple[Secrets, bool]:
        """The secret fields of the job's version the run was planned with, and of the
        job as it is now: a field that was ever a password is never shown. And whether
        its destination finds objects by their keys (a table, a file)."""
        version = await version_at(self.db, job_id, await planned_at(self.db, run_id))
        cached = (job_id, version.revision if version is not None else 0)
        if cached not in self._secrets:
            job = await self.bus.store.find_job(job_id) if self.bus is not None else None
            while len(self._secrets) >= KEPT_SECRETS:
                self._secrets.pop(next(iter(self._secrets)))
            then = version.job if version is not None else None
            secrets = secrets_of(job).merged(secrets_of(then))
            self._secrets[cached] = (secrets, await self._by_key(then or job))
        return self._secrets[cached]

    async def _by_key(self, job: Job | None) -> bool:
        """Whether the job's destination finds its objects by their keys alone (a table,
        a file): their key is their identifier. False when it cannot be told."""
        if job is None or self.bus is None:
            return False
        try:
            connection = await self.bus.store.connection(job.destination.connection)
        except NotFound:
            return False
        return found_by_key(connection)


CHANGE_COLUMNS = (
    "run_id, batch, n, job_id, object_type, key, action, field, old, new, container, "
    "secret, outcome, error, at, identifier, source"
)
INSERT_CHANGE = upsert("changes", CHANGE_COLUMNS, "run_id, batch, n")
INSERT_EVENT = upsert("events", "id, seq, run_id, job_id, type, at, body, stored", "id")
INSERT_RUN = upsert(
    "runs",
    "run_id, job_id, state, trig, requested_by, requested_at, approved_by, plan_hash, reason, "
    "written, failed, seconds, ended_at, story",
    "run_id",
)
INSERT_BATCH = upsert(
    "batches", "run_id, batch, plan_hash, outcome, at, rows, note", "run_id, batch"
)


def change_values(row: ChangeRow) -> tuple[Any, ...]:
    return (
        row.run_id,
        row.batch,
        row.n,
        row.job_id,
        row.object_type,
        row.key,
        row.action,
        row.field,
        row.old,
        row.new,
        row.container,
        int(row.secret),
        row.outcome,
        row.error,
        row.at,
        row.identifier,
        row.source,
    )


def change_row(values: tuple[Any, ...]) -> ChangeRow:
    names = [name.strip() for name in CHANGE_COLUMNS.split(",")]
    found = dict(zip(names, values, strict=True))
    found["secret"] = bool(found["secret"])
    return ChangeRow(**found)


def _iso(value: Any) -> str | None:
    return value.isoformat() if value is not None else None
