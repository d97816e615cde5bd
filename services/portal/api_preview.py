"""The API's previews (`/api/jobs/{id}/preview`, `/api/preview`): a runner plans the job
— saved, or a definition not yet saved — as `idsync job preview` does (the portal opens
no data source), once the workflow allowed the person a preview; the answer is the
plan's counts, its first changes and its hash, and for a changed definition which
objects come into scope and which leave it. `key` (repeated) and `changed_only` plan as
`idsync job preview --key … --changed-only` does, and as a run asked for so would."""

from __future__ import annotations

from typing import Annotated, Any

import msgspec
from fastapi import APIRouter, Query, Request
from fastapi.responses import Response

from core.errors import BadInput
from schemas.jobs import Job
from schemas.previews import PreviewReply, PreviewRequest

from .api import reply
from .guard import Asker, portal_of

router = APIRouter(prefix="/api")
Limit = Annotated[int, Query(ge=0, le=1000, description="How many of the first changes.")]
Keys = Annotated[
    list[str] | None,
    Query(alias="key", description="Only these objects (by key value), as `--key` plans."),
]
ChangedOnly = Annotated[
    bool, Query(description="Only the records changed since the last run (`--changed-only`).")
]


def preview_view(found: PreviewReply) -> dict[str, Any]:
    shown: dict[str, Any] = msgspec.to_builtins(found)
    shown.pop("ok", None)
    shown.pop("error", None)
    return shown


@router.post("/jobs/{job_id}/preview", summary="Preview a saved job: a runner plans it")
async def preview_saved(
    request: Request,
    job_id: str,
    person: Asker,
    limit: Limit = 20,
    key: Keys = None,
    changed_only: ChangedOnly = False,
) -> Response:
    session = portal_of(request).session(person.principal)
    asked = PreviewRequest(job_id=job_id, limit=limit, keys=key, changed_only=changed_only)
    found = await session.preview(asked)
    return reply(preview_view(found))


@router.post(
    "/preview",
    summary="Preview a job not yet saved (its definition as JSON); with scope, what it "
    "changes in scope against the saved job of the same id",
    openapi_extra={
        "requestBody": {
            "required": True,
            "content": {"application/json": {"schema": {"type": "object"}}},
        }
    },
)
async def preview_given(
    request: Request,
    person: Asker,
    limit: Limit = 20,
    scope: Annotated[bool, Query(description="Compare with the saved job's plan.")] = False,
    key: Keys = None,
    changed_only: ChangedOnly = False,
) -> Response:
    try:
        job = msgspec.json.decode(await request.body(), type=Job)
    except (msgspec.ValidationError, msgspec.DecodeError) as error:
        raise BadInput(f"job: {error}") from None
    session = portal_of(request).session(person.principal)
    asked = PreviewRequest(job=job, limit=limit, scope=scope, keys=key, changed_only=changed_only)
    found = await session.preview(asked)
    return reply(preview_view(found))
