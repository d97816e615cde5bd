"""History: what the recorder keeps of every run, and the queries it answers.

The recorder (services/recorder) projects the journal into SQL and answers these
queries by request/reply on `idsync.cmd.<principal>.history` (a command subject: the
asker is in the subject, and people may already publish there). Replies are paged:
`next_offset` says where the next page starts, None when there is none.
"""

from __future__ import annotations

from typing import Literal

import msgspec

from .events import Event
from .jobs import Job
from .logs import LogLine
from .plan import RecordError

Outcome = Literal["applied", "failed", "dropped"]
SECRET_SHOWN = "(set)"
"""How a secret value (a password) is shown: that it was set, never what it is."""


class ChangeRow(msgspec.Struct, frozen=True, kw_only=True, omit_defaults=True):
    """One field of one object changed by one run (a change without fields, such as a
    delete, is one row with no field)."""

    run_id: str
    job_id: str
    batch: int
    n: int
    """The row's place among its batch's rows: (run_id, batch, n) is its identity."""
    object_type: str
    key: str
    action: str
    identifier: str = ""
    """The object's identifier at the destination: its DN in a directory, the key fields
    and values that find its row in a table or a file (`employee_id=E001`); empty when
    the destination's own identifier of it is not known (a new object of a service that
    gives it one)."""
    field: str = ""
    old: str = ""
    new: str = ""
    container: str = ""
    source: str = ""
    """The source values a transformation (or a reference) computed the new value from,
    as the run's plan kept them (`department="Legal"`); empty for a plain copy (the
    source held the new value), a secret, or a run that kept none."""
    secret: bool = False
    """A password or another secret: `old` and `new` say "(set)" or nothing, never a value."""
    outcome: Outcome = "applied"
    error: str = ""
    at: str = ""
    """When the batch was applied (ISO 8601, UTC)."""


class JobVersion(msgspec.Struct, frozen=True, kw_only=True, omit_defaults=True):
    """One definition of a job as applied: the jobs bucket's revision that stored it.
    A job applied again unchanged is no new version; a deleted job's last version says so."""

    job_id: str
    version: int
    """1, 2, 3…: the job's definitions in the order the recorder found them."""
    revision: int
    """The jobs bucket's revision (`nats kv history idsync_jobs JOB` shows it)."""
    applied_at: str
    """When the server stored it (ISO 8601, UTC)."""
    deleted: bool = False
    job: Job | None = None
    """The definition (None when deleted, or written by a version of idsync this one
    cannot read)."""


Asked = Literal[
    "run", "errors", "events", "changes", "logs", "object", "runs", "why", "versions", "roles"
]


class HistoryQuery(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """A question to the recorder."""

    what: Asked
    """run: one run's story; errors, events, changes, logs: one run's, paged (logs: the
    lines the services logged about it, in the order they were logged); object: every
    change of one object (by key), newest first; runs: the runs recorded, newest first (by
    when they were asked for; of `job_id` and in `state` when given; `latest`: each job's
    last run only), their stories in `stories`;
    why: the change that last wrote `field` of `key` by `job_id`, with the job's version
    its run was planned with; versions: every recorded version of `job_id`, newest first;
    roles: every change of a role (`role.changed`, of the role `job_id` when given), oldest
    first, in `events`."""
    run_id: str = ""
    key: str = ""
    job_id: str = ""
    field: str = ""
    since: str = ""
    """ISO 8601: only what happened at or after it."""
    state: str = ""
    """runs: only those in this state (as core/runs.py words it: finished, failed…)."""
    latest: bool = False
    """runs: only the last run of each job."""
    offset: int = 0
    limit: int = 1000


class HistoryReply(msgspec.Struct, frozen=True, kw_only=True, omit_defaults=True):
    ok: bool = True
    error: str = ""
    story: msgspec.Raw = msgspec.field(default_factory=lambda: msgspec.Raw(b"null"))
    """The run as core/runs.py folds it (RunStory, without its errors: ask for those);
    JSON null when the question was not about one run."""
    stories: list[msgspec.Raw] = msgspec.field(default_factory=list)
    """runs: each run's story as `story` holds one, newest first."""
    errors: list[RecordError] = msgspec.field(default_factory=list)
    events: list[Event] = msgspec.field(default_factory=list)
    changes: list[ChangeRow] = msgspec.field(default_factory=list)
    logs: list[LogLine] = msgspec.field(default_factory=list)
    total: int = 0
    next_offset: int | None = None
    versions: list[JobVersion] = msgspec.field(default_factory=list)
    """versions: the job's, newest first; why: the version in force when the run that
    wrote the value was planned (none when the recorder had not seen it)."""
    current_version: int = 0
    """why: the job's latest version (0: none recorded)."""
    planned_at: str = ""
    """why: when that run was planned (its last `run.started`, as the server stored it)."""


_encoder = msgspec.json.Encoder()
query_decoder = msgspec.json.Decoder(HistoryQuery)
reply_decoder = msgspec.json.Decoder(HistoryReply)


def encode(message: HistoryQuery | HistoryReply) -> bytes:
    return _encoder.encode(message)
