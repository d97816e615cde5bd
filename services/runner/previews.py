"""Previews asked of the runners (idsync.preview.<principal>, one runner of the queue
group answers): the job — saved, or a definition not yet saved, checked first as `idsync
job apply` checks it — planned by `plan_run` from the run's own inputs, as `idsync job
preview` plans it, so the hash is the one a run on the same data would have. Nothing is
written. The portal sends these once the workflow allowed the person a preview; people
cannot publish here themselves.

A job that lives in a site is planned by one of that site's runners, as its runs are:
the central runner asked hands the request on (idsync.preview.<principal>.<site>) and
passes the answer back; a site without a runner says so."""

from __future__ import annotations

from itertools import islice

import msgspec
import nats.errors

from core.checks.job import check_job
from core.errors import IdsyncError
from core.scope_change import scope_change
from core.sites import site_of
from schemas.jobs import Job
from schemas.previews import (
    PreviewReply,
    PreviewRequest,
    preview_reply_decoder,
    preview_request_decoder,
)
from schemas.subjects import site_preview_subject
from services.common.bus import Bus
from services.common.hooks import hooks_problem
from services.common.logging import get_logger
from services.common.watermarks import Memory
from services.providers import FACTS

from .planning import Asked, PlannedRun, plan_run

log = get_logger("idsync.runner")
MOST_CHANGES = 1000
"""The most changes an answer carries, whatever was asked (a NATS message is small)."""
SITE_WAIT = 110.0
"""How long a site's runner has to plan a preview handed to it (the portal waits 120 s)."""


async def answer_preview(bus: Bus, principal: str, body: bytes) -> PreviewReply:
    try:
        request = preview_request_decoder.decode(body)
    except (msgspec.DecodeError, msgspec.ValidationError) as error:
        return PreviewReply(ok=False, error=f"not a preview request: {error}")
    try:
        return await _preview(bus, principal, request, body)
    except IdsyncError as error:
        return PreviewReply(ok=False, error=str(error))
    except Exception as error:  # a source that fails to read: say so, stay up
        log.warning("preview failed", by=principal, error=str(error))
        return PreviewReply(ok=False, error=f"{type(error).__name__}: {error}")


async def _preview(bus: Bus, principal: str, request: PreviewRequest, body: bytes) -> PreviewReply:
    saved = await bus.store.find_job(request.job.id if request.job else request.job_id)
    job: Job | None = request.job or saved
    if job is None:
        return PreviewReply(ok=False, error=f"no job {request.job_id!r}")
    connections = {c.id: c for c in await bus.store.connections()}
    if request.job is not None:
        check_job(job, connections, FACTS, hooks_problem=hooks_problem(job))
    if not bus.settings.site and (site := site_of(job, connections)):
        return await _in_site(bus, site, principal, body)
    asked = Asked(keys=request.keys, changed_only=request.changed_only)
    planned = await _plan(bus, job, asked)
    limit = max(0, min(request.limit, MOST_CHANGES))
    scope = None
    if request.scope and saved is not None:
        before = await _plan(bus, saved, asked)
        scope = scope_change(before.plan.changes, planned.plan.changes, limit)
    log.info("previewed", job_id=job.id, by=principal, plan_hash=planned.plan.hash)
    return PreviewReply(
        ok=True,
        job_id=job.id,
        plan_hash=planned.plan.hash,
        counts=planned.plan.counts,
        changes=list(islice(planned.plan.changes, limit)),
        source_records=planned.source_records,
        destination_records=planned.destination_records,
        warnings=planned.plan.warnings,
        scope=scope,
        runner=bus.settings.runner_id,
        over_limits=None if job.staging else planned.over_limits(job, request.keys),
        failed=sum(not error.skipped for error in planned.record_errors),
    )


async def _in_site(bus: Bus, site: str, principal: str, body: bytes) -> PreviewReply:
    """The preview of a site's job, planned by one of the site's runners."""
    log.info("preview handed to its site's runners", site=site, by=principal)
    try:
        answer = await bus.broker.connection.request(
            site_preview_subject(site, principal), body, timeout=SITE_WAIT
        )
    except nats.errors.NoRespondersError:
        return PreviewReply(
            ok=False,
            error=f"the job lives in site {site!r}, and no runner of that site is running to "
            f"plan it: start one there (IDSYNC_SITE={site})",
        )
    except nats.errors.TimeoutError:
        return PreviewReply(
            ok=False, error=f"no runner of site {site!r} planned the preview in {SITE_WAIT:.0f} s"
        )
    return preview_reply_decoder.decode(answer.data)


async def _plan(bus: Bus, job: Job, asked: Asked) -> PlannedRun:
    """As `idsync job preview` plans: the job's watermark and absences, now; scoped to
    keys, or to what changed, as asked."""
    return await plan_run(bus.store, Memory(bus.js), job, asked)
