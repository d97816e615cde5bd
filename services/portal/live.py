"""`GET /api/events?job=…`: the journal's events as they are published, as server-sent
events (`event: run.batch-applied`, `data:` the event as JSON) — core subscriptions, as
`idsync tail` follows them: nothing is left behind on the server."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import msgspec
from fastapi import APIRouter, Request
from fastapi.responses import StreamingResponse

from core.errors import BadInput
from schemas.events import tag_of
from schemas.ids import is_slug
from schemas.subjects import RUN_EVENTS, job_events

from .guard import Asker, portal_of

router = APIRouter(prefix="/api")
KEEP_ALIVE = 15.0
"""Seconds between comments on a quiet stream, so proxies keep it open."""


@router.get(
    "/events",
    summary="The journal's events as they happen (server-sent events)",
    response_class=StreamingResponse,
    responses={200: {"content": {"text/event-stream": {}}}},
)
async def events(request: Request, person: Asker, job: str | None = None) -> StreamingResponse:
    if job is not None and not is_slug(job):
        raise BadInput(f"job {job!r} is not a job id")
    session = portal_of(request).session(person.principal)
    subject = job_events(job) if job else RUN_EVENTS

    async def stream() -> AsyncIterator[bytes]:
        async with session.follow(subject) as queue:
            yield b": following " + subject.encode() + b"\n\n"
            while not await request.is_disconnected():
                try:
                    event = await asyncio.wait_for(queue.get(), KEEP_ALIVE)
                except TimeoutError:
                    yield b": still here\n\n"
                    continue
                data = msgspec.json.encode(event)
                yield b"event: " + tag_of(event).encode() + b"\ndata: " + data + b"\n\n"

    headers = {"cache-control": "no-store", "x-accel-buffering": "no"}
    return StreamingResponse(stream(), media_type="text/event-stream", headers=headers)
