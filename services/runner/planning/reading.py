"""How a run reads its source: everything, or only what changed since the last run.

A job with `changes` runs incrementally when asked (`idsync job run JOB --changed-only`)
and, with `changes.full_every`, on its schedule between full runs. An incremental run
never acts on absence: it cannot see who is absent — unless its source could not use its
watermark and read every record instead (a Graph delta link expired): then it is a full
run after all (`Learned.full_because`). Its watermark and the absences of
the lifecycle are read here, before planning; they are written when runs finish
(work.py) and when batches are applied (absences.py).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta

import msgspec

from core.checks.incremental import changed_only_refusal
from core.checks.intervals import parse_interval
from core.engine.lifecycle import DELETED, Lifecycle, has_lifecycle
from core.errors import BadInput
from schemas.jobs import Job
from services.common.watermarks import Memory, Watermark, source_of
from services.providers import FACTS


@dataclass(frozen=True)
class Reading:
    """What planning needs to know of the job's past runs."""

    incremental: bool = False
    since: str | None = None
    """The watermark an incremental run reads from; None: every record."""
    lifecycles: dict[str, Lifecycle] = field(default_factory=dict)
    """Per object type with a lifecycle: its absences and the run's clock."""

    def since_for(self, job: Job, object_type: str) -> str | None:
        """Where one object type's source reads from: a job of several types keeps one
        watermark per type (`job_watermark`)."""
        if self.since is None or len(job.objects) == 1:
            return self.since
        marks = _marks.decode(self.since) if self.since.startswith("{") else {}
        return marks.get(object_type)


_marks = msgspec.json.Decoder(dict[str, str | None])


@dataclass
class Learned:
    """What reading the sources taught the run, filled as each type's source is read to
    the end: the watermarks the next incremental run reads from, and why a source read
    every record when asked for its changes (providers/base.py, `FallsBack`)."""

    marks: dict[str, str | None] = field(default_factory=dict)
    fell_back: dict[str, str] = field(default_factory=dict)
    warnings: list[str] = field(default_factory=list)
    """Change values read as changed but not used as the watermark (`WarnsOfChanges`)."""

    def full_because(self, job: Job, reading: Reading) -> str | None:
        """Why this incremental run is a full run after all: the source of every object
        type read every record to the end, so absence is seen as in any full run. One
        type read by its changes keeps the run incremental (absence is one decision)."""
        if not reading.incremental or not self.fell_back:
            return None
        if any(mapping.type not in self.fell_back for mapping in job.objects):
            return None
        return "; ".join(dict.fromkeys(self.fell_back[m.type] for m in job.objects))


def job_watermark(job: Job, marks: dict[str, str | None]) -> str | None:
    """The job's one watermark from its types' own (`Reading.since_for` reads it back)."""
    if len(job.objects) == 1:
        return marks.get(job.objects[0].type)
    if all(mark is None for mark in marks.values()):
        return None
    return msgspec.json.encode(dict(sorted(marks.items()))).decode()


def choose(
    job: Job, changed_only: bool, trigger: str, mark: Watermark | None, now: datetime
) -> tuple[bool, str | None]:
    """(incremental, since) for a run of `job` asked for this way, at `now`."""
    changes = job.changes
    if changes is None:
        if changed_only:  # the workflow refuses such requests; one may come from before
            raise BadInput(changed_only_refusal(job, None, FACTS) or "")
        return False, None
    same = mark is not None and mark.field == changes.field
    since = mark.value if mark is not None and same and _same_source(mark, job) else None
    if changed_only:
        return True, since
    if trigger != "schedule" or changes.full_every is None:
        return False, None
    last_full = mark.full_at if mark is not None else None
    every = timedelta(seconds=parse_interval(changes.full_every))
    if last_full is None or now - last_full >= every:
        return False, None  # a full run is due (or there was none yet)
    return True, since


def _same_source(mark: Watermark, job: Job) -> bool:
    """The watermark was read from the job's source as it is now (one kept before
    sources were told apart is taken as the job's)."""
    return not mark.source or mark.source == source_of(job)


async def reading(
    memory: Memory, job: Job, changed_only: bool, trigger: str, now: datetime
) -> Reading:
    """The reading of one run, from the job's watermark and absences in KV."""
    incremental, since = choose(job, changed_only, trigger, await memory.watermark(job.id), now)
    lasting = [mapping for mapping in job.objects if has_lifecycle(mapping)]
    absences = await memory.absent_objects(job.id) if lasting else {}
    lifecycles = {}
    for mapping in lasting:
        kept = absences.get(mapping.type, {})
        away = {key: a for key, a in kept.items() if a.ways != [DELETED]}
        lifecycles[mapping.type] = Lifecycle(
            absent_since={key: a.since for key, a in away.items()},
            now=now,
            delete_after=_days(mapping.delete_after),
            ways={key: a.ways for key, a in away.items() if a.ways},
            deleted=frozenset(kept.keys() - away.keys()),
        )
    return Reading(incremental=incremental, since=since, lifecycles=lifecycles)


def _days(delete_after: str | None) -> timedelta | None:
    return timedelta(seconds=parse_interval(delete_after)) if delete_after else None
