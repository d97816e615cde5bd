"""Deleting a job: what it leaves behind, and — when asked — its history too.

A job deleted keeps its history by default: its runs stay in the journal (`idsync run
list --job` still shows them) and their states in the runs bucket. Its schedules' states,
its watermark and the absences it recorded always go (a job made again under the same id
starts afresh: its schedules with nothing "missed", its first run reading everything and
disabling before any delete). Asked to forget the history, the job's events (`idsync.run.*.<job>`,
`idsync.schedule.*.<job>`) are purged from the journal, and its runs' log lines not yet
recorded from their stream; its runs' states deleted, and so is its claim
(services/common/claims.py). Stored plans
expire with the journal. Then `job.history-forgotten` says so in the journal, for the
history database to forget the job's runs as well
(services/recorder/forget.py): published after the purge, it comes after every event of
the job the journal still holds, so the recorder replaying the journal from its start
forgets what it forgot live.
"""

from __future__ import annotations

import contextlib

import nats.js.errors
from nats.aio.client import Client

from schemas.events import JobHistoryForgotten, encode_event
from schemas.subjects import event_subject, job_events, job_logs, schedule_events

from .jetstream import (
    ABSENT_BUCKET,
    CLAIMS_BUCKET,
    JOURNAL,
    LOGS,
    RUNS_BUCKET,
    SCHEDULES_BUCKET,
    WATERMARKS_BUCKET,
)
from .reading import bucket_keys, journal_events
from .schedules import state_key


async def forget_schedules(nc: Client, job_id: str, kind: str = "job") -> None:
    """The states of a job's (or a collection's) schedules."""
    await _purge_keys(nc, SCHEDULES_BUCKET, state_key(job_id, ">", kind))


async def forget_state(nc: Client, job_id: str) -> None:
    """What a job remembers between runs: its incremental watermark and the absences it
    recorded. A job made again under the same id starts afresh: the absences of the one
    deleted (the day each object was first disabled) would have its first run delete at
    once objects it never disabled, wherever it now writes."""
    await _purge_keys(nc, WATERMARKS_BUCKET, job_id)
    await _purge_keys(nc, ABSENT_BUCKET, f"{job_id}.>")


async def forget_history(nc: Client, job_id: str, by: str) -> int:
    """Remove the job's history, and say so in the journal; how many runs it had."""
    js = nc.jetstream()
    run_ids = {event.run_id for event in await journal_events(nc, job_events(job_id))}
    for subject in (job_events(job_id), schedule_events(job_id)):
        await js.purge_stream(JOURNAL, subject=subject)
    with contextlib.suppress(nats.js.errors.NotFoundError):
        await js.purge_stream(LOGS, subject=job_logs(job_id))
    runs = await js.key_value(RUNS_BUCKET)
    for key in set(await bucket_keys(js, RUNS_BUCKET)) & run_ids:
        await runs.purge(key)
    await forget_state(nc, job_id)
    await _purge_keys(nc, CLAIMS_BUCKET, job_id)  # its runs' states are gone: so is its claim
    said = JobHistoryForgotten(run_id="", job_id=job_id, by=by, runs=len(run_ids))
    await js.publish(
        event_subject(said), encode_event(said), stream=JOURNAL, headers={"Nats-Msg-Id": said.id}
    )
    return len(run_ids)


async def _purge_keys(nc: Client, bucket: str, keys: str) -> None:
    with contextlib.suppress(nats.js.errors.NotFoundError):
        await nc.jetstream().purge_stream(f"KV_{bucket}", subject=f"$KV.{bucket}.{keys}")
