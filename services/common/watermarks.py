"""What a job remembers between runs: its watermark and the objects found absent.

Both live in JetStream KV. The watermark (bucket `idsync_watermarks`, one entry per
job) says where the next incremental run reads from and when the last full run
finished; only the runner that finishes a run writes it, and only for a run that
finished (never a failed, cancelled, denied or staged one, nor one scoped to keys). Absences (bucket
`idsync_absent`, one entry per job and object,
`<job>.<base64url of the object type>.<base64url of the match key>`)
hold the day a full run first found an object absent from the source; the runner
that applies its disable or move writes it, and the one that deletes or restores the
object forgets it. Both changes are idempotent, so a batch applied twice is harmless.
"""

from __future__ import annotations

import base64
import hashlib
from collections.abc import Sequence
from datetime import datetime

import msgspec
import nats.js.errors
from nats.js import JetStreamContext
from nats.js.kv import KeyValue

from core.engine.lifecycle import DELETED
from schemas.ids import utcnow
from schemas.jobs import Job

from .jetstream import ABSENT_BUCKET, WATERMARKS_BUCKET


class Watermark(msgspec.Struct, kw_only=True):
    field: str | None = None
    """The job's `changes.field` the value was read with: another field starts afresh."""
    source: str = ""
    """Which source the value was read from (`source_of`): another starts afresh (empty:
    kept before sources were told apart, taken as the job's)."""
    value: str | None = None
    """Opaque; only the source's provider reads it (providers/base.py, ChangeReader)."""
    full_at: datetime | None = None
    """When the last full run that finished was approved (for `changes.full_every`)."""
    run_id: str = ""
    updated_at: datetime = msgspec.field(default_factory=utcnow)


class Absence(msgspec.Struct, kw_only=True):
    key: str
    """The object's key as people read it."""
    since: datetime
    """The approval time of the run that first disabled or moved it for absence."""
    ways: list[str] = msgspec.field(default_factory=list)
    """How that run took it away: `disable`, `move`, or both (empty: kept before this
    was, any way the job takes objects away)."""


_encoder = msgspec.json.Encoder()
_watermark = msgspec.json.Decoder(Watermark)
_absence = msgspec.json.Decoder(Absence)
_MISSING = (nats.js.errors.KeyNotFoundError, nats.js.errors.KeyDeletedError)


def source_of(job: Job) -> str:
    """The job's source as a watermark names it: its connection and endpoint, and the
    source of each type read from its own (`[objects.source]`: its table, file, `where`)."""
    own = {mapping.type: mapping.source for mapping in job.objects if mapping.source}
    told = (job.source, own) if own else job.source  # alone: as kept before types' own
    return hashlib.sha256(_encoder.encode(told)).hexdigest()[:16]


def absence_key(job_id: str, object_type: str, match_key: str) -> str:
    """A KV key for any object of any type: base64url keeps to the characters KV allows."""
    return f"{job_id}.{_encode(object_type)}.{_encode(match_key)}"


def _encode(text: str) -> str:
    return base64.urlsafe_b64encode(text.encode()).decode().rstrip("=")


def _decode(encoded: str) -> str:
    return base64.urlsafe_b64decode(encoded + "=" * (-len(encoded) % 4)).decode()


class Memory:
    """One job's watermark and absences."""

    def __init__(self, js: JetStreamContext) -> None:
        self.js = js

    async def _kv(self, bucket: str) -> KeyValue:
        return await self.js.key_value(bucket)

    async def watermark(self, job_id: str) -> Watermark | None:
        try:
            entry = await (await self._kv(WATERMARKS_BUCKET)).get(job_id)
        except _MISSING:
            return None
        return _watermark.decode(entry.value) if entry.value else None

    async def advance(
        self,
        job_id: str,
        run_id: str,
        at: datetime,
        *,
        field: str | None,
        value: str | None,
        full: bool,
        source: str = "",
    ) -> Watermark:
        """After a run finished: the new value (kept when the run saw none), and for a full
        run its time."""
        before = await self.watermark(job_id)
        same_field = before is not None and before.field == field and before.source in ("", source)
        mark = Watermark(
            field=field,
            source=source,
            value=value if value is not None else (before.value if same_field and before else None),
            full_at=at if full else (before.full_at if before else None),
            run_id=run_id,
        )
        await (await self._kv(WATERMARKS_BUCKET)).put(job_id, _encoder.encode(mark))
        return mark

    async def absences(self, job_id: str) -> dict[str, dict[str, datetime]]:
        """Object type → match key → the day it was first found absent, for every object
        of the job."""
        return {
            kind: {key: absence.since for key, absence in of_type.items()}
            for kind, of_type in (await self.absent_objects(job_id)).items()
        }

    async def absent_objects(self, job_id: str) -> dict[str, dict[str, Absence]]:
        """Object type → match key → its absence (since when, and how it was taken away),
        for every object of the job."""
        kv = await self._kv(ABSENT_BUCKET)
        prefix = f"$KV.{ABSENT_BUCKET}."
        try:
            info = await self.js.stream_info(
                f"KV_{ABSENT_BUCKET}", subjects_filter=f"{prefix}{job_id}.>"
            )
        except nats.js.errors.NotFoundError:
            return {}
        found: dict[str, dict[str, Absence]] = {}
        for subject in info.state.subjects or {}:
            name = subject.removeprefix(prefix)
            try:
                entry = await kv.get(name)
            except _MISSING:
                continue
            parts = name.split(".")
            if entry.value and len(parts) == 3:
                of_type = found.setdefault(_decode(parts[1]), {})
                of_type[_decode(parts[2])] = _absence.decode(entry.value)
        return found

    async def mark_absent(
        self,
        job_id: str,
        object_type: str,
        match_key: str,
        shown: str,
        since: datetime,
        ways: Sequence[str] = (),
    ) -> None:
        """Keep the first date: an object disabled again (or the batch applied twice) keeps it;
        and how it was taken away (`ways`: disable, move). One kept deleted (`mark_deleted`)
        is there again, made by someone else: its absence starts afresh."""
        kv = await self._kv(ABSENT_BUCKET)
        name = absence_key(job_id, object_type, match_key)
        data = _encoder.encode(Absence(key=shown, since=since, ways=list(ways)))
        try:
            await kv.create(name, data)
        except nats.js.errors.KeyWrongLastSequenceError:
            try:
                entry = await kv.get(name)
            except _MISSING:
                return
            if entry.value and _absence.decode(entry.value).ways == [DELETED]:
                try:
                    await kv.update(name, data, last=entry.revision)
                except nats.js.errors.KeyWrongLastSequenceError:
                    return

    async def mark_deleted(
        self, job_id: str, object_type: str, match_key: str, shown: str, at: datetime
    ) -> None:
        """An object deleted at the end of its lifecycle, kept as such (core/engine/
        lifecycle.py `keeps_deleted`): its absence becomes one of way `deleted`."""
        kv = await self._kv(ABSENT_BUCKET)
        data = _encoder.encode(Absence(key=shown, since=at, ways=[DELETED]))
        await kv.put(absence_key(job_id, object_type, match_key), data)

    async def undo(
        self, job_id: str, object_type: str, match_key: str, way: str, taken: Sequence[str]
    ) -> None:
        """A restore's change applied: `way` (disable, move) is undone; the absence is
        forgotten once no way is left (`taken`: the ways of one kept without them)."""
        kv = await self._kv(ABSENT_BUCKET)
        name = absence_key(job_id, object_type, match_key)
        try:
            entry = await kv.get(name)
        except _MISSING:
            return
        if not entry.value:
            return
        absence = _absence.decode(entry.value)
        left = [w for w in absence.ways or taken if w != way]
        if not left:
            await self.forget_absent(job_id, object_type, match_key)
            return
        kept = msgspec.structs.replace(absence, ways=left)
        try:  # unless changed meanwhile (forgotten, or marked anew)
            await kv.update(name, _encoder.encode(kept), last=entry.revision)
        except nats.js.errors.KeyWrongLastSequenceError:
            return

    async def forget_absent(self, job_id: str, object_type: str, match_key: str) -> None:
        kv = await self._kv(ABSENT_BUCKET)
        try:
            await kv.purge(absence_key(job_id, object_type, match_key))
        except _MISSING:
            return
