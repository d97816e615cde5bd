"""Job definitions as versions: every revision of the jobs bucket, kept with its time.

`idsync job apply` (or the workflow, for people) puts a job in the `idsync_jobs` bucket;
each put is a revision of the bucket's stream, stored with the server's time. The
recorder reads the revisions it has not read yet — one message get each (the bucket
allows no batched direct gets; jobs change seldom), no consumer left on the server —
when it starts, every POLL seconds, when a
run starts and before it answers about versions, and keeps each definition that differs
from the job's previous one as the job's next version. The bucket itself keeps only the
last few revisions of a job: the history keeps them all.

Which version a run was planned with: the runner reads the job just after it publishes
`run.started`, so the version in force is the latest applied at or before the server
stored the run's last `run.started` (both times are the server's, whatever the
runners' clocks say).
"""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from typing import Any

import msgspec
import nats.js.errors

from schemas.history import JobVersion
from schemas.jobs import Job
from services.common.bus import Bus
from services.common.jetstream import JOBS_BUCKET
from services.common.logging import get_logger

from .database import Database, stamp, upsert

log = get_logger("idsync.recorder")
STREAM = f"KV_{JOBS_BUCKET}"
SUBJECTS = f"$KV.{JOBS_BUCKET}.>"
POLL = 5.0
"""Seconds between two looks at the jobs bucket."""
_job = msgspec.json.Decoder(Job)


class Versions:
    """Reads the jobs bucket's new revisions into `job_versions` (one writer: `lock`)."""

    def __init__(self, bus: Bus | None, db: Database, lock: asyncio.Lock) -> None:
        self.bus = bus
        self.db = db
        self.lock = lock

    async def catch_up(self) -> int:
        """Record the revisions not read yet; how many new versions."""
        if self.bus is None:
            return 0
        async with self.lock:
            found = await self.db.fetchone("SELECT value FROM progress WHERE what = 'jobs'")
            start = int(found[0]) + 1 if found else 1
            read: list[tuple[int, str, str, bytes | None]] = []
            js = self.bus.js
            while True:
                try:
                    msg = await js.get_msg(STREAM, seq=start, subject=SUBJECTS, next=True)
                except nats.js.errors.NotFoundError:
                    break  # none after `start`
                operation = (msg.headers or {}).get("KV-Operation", "")
                body = None if operation in ("DEL", "PURGE") else msg.data or b""
                job_id = (msg.subject or "").removeprefix(f"$KV.{JOBS_BUCKET}.")
                seq = int(msg.seq or start)
                read.append((seq, job_id, stamp(msg.time or datetime.now(UTC)), body))
                start = seq + 1
            if not read:
                return 0
            async with self.db.transaction():
                added = sum([await self._keep(*revision) for revision in read])
                await self.db.execute(INSERT_PROGRESS, ("jobs", read[-1][0]))
        if added:
            log.info("job versions recorded", versions=added)
        return added

    async def _keep(self, revision: int, job_id: str, at: str, body: bytes | None) -> int:
        last = await self.db.fetchone(
            "SELECT version, body FROM job_versions WHERE job_id = ? ORDER BY version DESC LIMIT 1",
            (job_id,),
        )
        if last is not None and last[1] == body:
            return 0  # applied again unchanged (or deleted again): no new version
        if last is None and body is None:
            return 0  # a job deleted before the recorder ever saw it
        await self.db.execute(
            INSERT_VERSION,
            (revision, job_id, (last[0] if last else 0) + 1, at, int(body is None), body),
        )
        return 1


VERSION_COLUMNS = "job_id, version, revision, applied_at, deleted, body"
INSERT_VERSION = upsert(
    "job_versions", "revision, job_id, version, applied_at, deleted, body", "revision"
)
INSERT_PROGRESS = upsert("progress", "what, value", "what")


def job_version(row: tuple[Any, ...]) -> JobVersion:
    job_id, version, revision, applied_at, deleted, body = row
    job: Job | None = None
    if body is not None:
        try:
            job = _job.decode(body)
        except (msgspec.DecodeError, msgspec.ValidationError):
            job = None  # written by another version of idsync: the version stays listed
    return JobVersion(
        job_id=job_id,
        version=version,
        revision=revision,
        applied_at=applied_at,
        deleted=bool(deleted),
        job=job,
    )


async def planned_at(db: Database, run_id: str) -> str:
    """When the run was last planned: its last `run.started` as the server stored it
    (its own time for an event recorded before the database kept the server's)."""
    found = await db.fetchone(
        "SELECT coalesce(nullif(stored, ''), at) FROM events "
        "WHERE run_id = ? AND type = 'run.started' ORDER BY seq DESC LIMIT 1",
        (run_id,),
    )
    return str(found[0]) if found else ""


async def version_at(db: Database, job_id: str, when: str) -> JobVersion | None:
    """The job's version in force at `when` (None: none recorded by then)."""
    if not when:
        return None
    found = await db.fetchone(
        f"SELECT {VERSION_COLUMNS} FROM job_versions WHERE job_id = ? AND applied_at <= ? "
        "ORDER BY revision DESC LIMIT 1",
        (job_id, when),
    )
    return job_version(tuple(found)) if found else None


async def versions_of(db: Database, job_id: str) -> list[JobVersion]:
    rows = await db.fetchall(
        f"SELECT {VERSION_COLUMNS} FROM job_versions WHERE job_id = ? ORDER BY revision DESC",
        (job_id,),
    )
    return [job_version(row) for row in rows]
