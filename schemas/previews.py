"""A preview planned by a runner: the portal opens no data source, so it asks a runner
(idsync.preview.<principal>, request/reply) to plan a job as `idsync job preview` does,
and answers with the plan's counts, its first changes and its hash — the hash a run of
the job planned on the same data would have."""

from __future__ import annotations

import msgspec

from .jobs import Job
from .plan import Change, PlanCounts


class PreviewRequest(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    job_id: str = ""
    """A saved job, planned as stored…"""
    job: Job | None = None
    """…or a definition not yet saved (checked as `idsync job apply` checks it first)."""
    limit: int = 20
    """How many of the plan's first changes the answer carries."""
    keys: list[str] | None = None
    """Only these objects (by key value), as a run asked for them plans (`--key`)."""
    changed_only: bool = False
    """Only the source records changed since the job's last run (`--changed-only`)."""
    scope: bool = False
    """Also plan the saved job of the same id and say which objects the definition
    given brings into scope and which leave it (ScopeChange)."""


class ScopeChange(msgspec.Struct, frozen=True, kw_only=True):
    """What a changed definition changes in scope, from the two plans' keys: objects the
    new plan writes (creates, updates, enables) that the saved one does not come into
    scope; objects it deletes, disables or moves that the saved one does not leave it."""

    entering: int = 0
    leaving: int = 0
    entering_sample: list[str] = msgspec.field(default_factory=list)
    leaving_sample: list[str] = msgspec.field(default_factory=list)


class PreviewReply(msgspec.Struct, frozen=True, kw_only=True):
    ok: bool
    error: str | None = None
    job_id: str = ""
    plan_hash: str = ""
    counts: PlanCounts = msgspec.field(default_factory=PlanCounts)
    changes: list[Change] = msgspec.field(default_factory=list)
    """The plan's first `limit` changes, in order."""
    source_records: int = 0
    destination_records: int = 0
    warnings: list[str] = msgspec.field(default_factory=list)
    scope: ScopeChange | None = None
    """Asked for and a saved job to compare with: what the definition changes in scope."""
    runner: str = ""
    """The runner that planned it: for a job that lives in a site, one of that site's."""
    over_limits: str | None = None
    """Why a run of this plan would wait for approval under the job's safety limits,
    writing nothing until then (as `idsync job preview` says); None: it would not."""
    failed: int = 0
    """Source records that failed (a transformation, a reference): in no count of the plan."""


preview_request_decoder = msgspec.json.Decoder(PreviewRequest)
preview_reply_decoder = msgspec.json.Decoder(PreviewReply)
