"""The SCIM endpoint's HTTP side (Starlette): a SCIM base URL per job, `/scim/<job>/v2`.

- `POST …/Bulk` (a BulkRequest of users) and `POST …/Users` (one user): the users are
  stored as the job's source records and a run of the job scoped to them is asked for,
  in the pushing system's name — the same approvals, safety limits and history as any
  run. The answer names the run (`Location: …/Runs/<run>`, each operation's `location`
  the record's outcome); `?wait=SECONDS` answers once the run has ended, each
  operation's status then its record's outcome (201 created, 200 updated or unchanged,
  400 failed with the reason).
- `GET …/Runs/<run>`: the run's state and each record's outcome; `GET
  …/Runs/<run>/Users/<key>` one record's.
- `PUT …/Users/<id>`: one user, as `POST …/Users`. `PATCH` and `DELETE` of a user are
  answered 405 (a push is the whole user; a leaver is pushed with `"active": false`),
  `GET …/Users` and `…/Users/<id>` 501: users are pushed here, not read.
- `GET …/ServiceProviderConfig` and `…/ResourceTypes`: what a SCIM client asks first.

Every error, a path or a method no route takes included, is a SCIM error document
(RFC 7644 §3.12); a body over 32 MiB is refused (413) before the rest of it is read.

Every request carries a system user's token (tokens.py); it reaches only the jobs whose
source connection (`provider = "scim-inbound"`) lists that user. Anything else is 404,
as if the job were not there.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from typing import Any
from urllib.parse import quote

import msgspec
from nats.aio.msg import Msg
from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from core.errors import BadInput
from core.runs import RunStory
from schemas.commands import RUN_KEYS_BYTES, RunCommand, encode, keys_size, reply_decoder
from schemas.connections import ScimInboundConnection
from schemas.events import RunAwaitingApproval, RunDeadLetter, decode_event, is_end
from schemas.jobs import Job
from schemas.subjects import command_subject, job_events
from services.common import pushed
from services.common.bus import Bus
from services.common.logging import get_logger
from services.common.tokens import Tokens

from .outcomes import Outcomes, outcomes
from .push import USERS, Operation, from_bulk, read_operations

MEDIA = "application/scim+json"
ERROR = "urn:ietf:params:scim:api:messages:2.0:Error"
BULK_RESPONSE = "urn:ietf:params:scim:api:messages:2.0:BulkResponse"
RUN_STATUS = "urn:idsync:api:messages:2.0:RunStatus"
MAX_OPERATIONS = 10_000
MAX_PAYLOAD = 32 << 20
HANDED = 10_000
STATUS = {"created": 201, "failed": 400, "not applied": 400, "skipped": 400, "pending": 202}

log = get_logger("idsync.scim_endpoint")
_encode = msgspec.json.Encoder().encode


class Refusal(Exception):
    def __init__(self, status: int, detail: str, scim_type: str | None = None) -> None:
        super().__init__(detail)
        self.status, self.detail, self.scim_type = status, detail, scim_type


def scim(body: Any, status: int = 200, headers: dict[str, str] | None = None) -> Response:
    return Response(_encode(body), status, headers=headers, media_type=MEDIA)


def error(status: int, detail: str, scim_type: str | None = None) -> Response:
    body: dict[str, Any] = {"schemas": [ERROR], "status": str(status), "detail": detail}
    if scim_type:
        body["scimType"] = scim_type
    # RFC 6750 §3: a 401 names the scheme a client is to authenticate with.
    challenge = {"WWW-Authenticate": 'Bearer realm="idsync"'} if status == 401 else None
    return scim(body, status, challenge)


class Endpoint:
    def __init__(self, bus: Bus) -> None:
        self.bus = bus
        self.tokens = Tokens(bus.settings.home)
        self.handed: dict[str, list[str]] = {}
        """Runs this endpoint asked for, and their keys: known before the workflow publishes
        their request (a system's requests wait out the merge window)."""

    def app(self) -> Starlette:
        base = "/scim/{job}/v2"
        routes = [
            Route(f"{base}/Bulk", self.bulk, methods=["POST"]),
            Route(f"{base}/Users", self.user, methods=["POST"]),
            Route(f"{base}/Users", self.not_offered, methods=["GET"]),
            Route(f"{base}/Users/{{id:path}}", self.user, methods=["PUT", "PATCH", "DELETE"]),
            Route(f"{base}/Users/{{id:path}}", self.not_offered, methods=["GET"]),
            Route(f"{base}/Runs/{{run}}", self.run, methods=["GET"]),
            Route(f"{base}/Runs/{{run}}/Users/{{key:path}}", self.run_user, methods=["GET"]),
            Route(f"{base}/ServiceProviderConfig", self.config, methods=["GET"]),
            Route(f"{base}/ResourceTypes", self.resource_types, methods=["GET"]),
        ]
        # Whatever no route takes (another path, another method) is answered in SCIM's
        # error shape too, as RFC 7644 §3.12 asks: a client reads the status and the
        # detail, never a bare "Not Found" it could take for a user already gone.
        handlers = {HTTPException: _http_error, Exception: _failed}
        return Starlette(routes=routes, exception_handlers=handlers)

    # Who asks, for which job.

    async def _job(self, request: Request) -> tuple[Job, ScimInboundConnection, str]:
        job_id = request.path_params["job"]
        scheme, _, token = request.headers.get("authorization", "").partition(" ")
        if scheme.lower() != "bearer" or not token:
            raise Refusal(401, "a bearer token is needed: a system user's (idsync user add)")
        job = await self.bus.store.find_job(job_id)
        source = None
        if job is not None:
            found = {c.id: c for c in await self.bus.store.connections()}
            source = found.get(job.source.connection)
        if not isinstance(source, ScimInboundConnection):
            raise Refusal(404, f"no job {job_id!r} takes pushed records here")
        principal = await self.tokens.principal(token.strip(), source.systems)
        if principal is None:
            # The same answer for a wrong token and a job of others: nothing is revealed.
            raise Refusal(404, f"no job {job_id!r} takes pushed records here")
        assert job is not None
        return job, source, principal

    def _base(self, request: Request, job: Job) -> str:
        return f"{str(request.base_url).rstrip('/')}/scim/{job.id}/v2"

    # Pushes.

    async def bulk(self, request: Request) -> Response:
        return await self._guarded(request, bulk=True)

    async def user(self, request: Request) -> Response:
        return await self._guarded(request, bulk=False)

    async def _guarded(self, request: Request, *, bulk: bool) -> Response:
        try:
            return await self._push(request, bulk)
        except Refusal as refused:
            return error(refused.status, refused.detail, refused.scim_type)
        except BadInput as bad:
            return error(400, str(bad), "invalidSyntax")

    async def _push(self, request: Request, bulk: bool) -> Response:
        job, source, principal = await self._job(request)
        if not job.enabled:
            # Refused before anything is kept: a push told refused is never applied later,
            # behind its system's back, by a run once the job is enabled.
            raise Refusal(
                400,
                f"job {job.id!r} is disabled: nothing was kept; push again once it is "
                f"enabled (idsync job enable {job.id})",
            )
        method = request.method
        one_id = request.path_params.get("id")
        path = f"{USERS}/{one_id}" if one_id is not None else USERS
        # A PATCH or a DELETE of one user is refused whatever its body (push.py says why).
        body: Any = None if method in ("PATCH", "DELETE") else _json(await _body(request))
        one: list[tuple[str, str | None, str, Any]] = [(method, None, path, body)]
        items = from_bulk(body) if bulk else one
        if len(items) > MAX_OPERATIONS:
            raise Refusal(413, f"at most {MAX_OPERATIONS} operations a request", "tooMany")
        operations = read_operations(job, items)
        taken = [op for op in operations if op.record is not None]
        keys = list(dict.fromkeys(str(op.key) for op in taken))
        if (size := keys_size(keys)) > RUN_KEYS_BYTES:
            # Refused before anything is kept: one run could not be asked for them all.
            raise Refusal(
                413,
                f"the users' keys take {size:,} bytes, over the {RUN_KEYS_BYTES:,} one run "
                "is scoped by: push them in smaller bulk requests; nothing was kept",
                "tooLarge",
            )
        wait = self._waiting(request)
        run_id, found = None, None
        if taken:
            # Following the job's events from before the run is asked for: its end is seen
            # the moment it is published.
            async with self._following(job.id, wait) as ends:
                run_id = await self._store_and_run(job, source, principal, taken)
                if ends is not None:
                    found = await self._wait(job, run_id, ends, wait)
        base = self._base(request, job)
        answered = [self._answer(op, base, run_id, found) for op in operations]
        headers = {"Location": f"{base}/Runs/{run_id}"} if run_id else {}
        if bulk:
            return scim({"schemas": [BULK_RESPONSE], "Operations": answered}, 200, headers)
        only = answered[0]
        if "response" in only:
            return scim(only["response"], int(only["status"]))
        resource = {**body, "id": taken[0].key, "meta": {"location": only["location"]}}
        return scim(resource, int(only["status"]), headers)

    async def _request_run(self, principal: str, job_id: str, keys: list[str]) -> str:
        command = RunCommand(job_id=job_id, keys=keys)
        subject = command_subject(principal, "run")
        try:
            msg = await self.bus.broker.connection.request(subject, encode(command), timeout=10)
        except Exception as e:  # no workflow answers: the records stay for the next run
            raise Refusal(503, f"the run could not be asked for ({e}); push again") from None
        reply = reply_decoder.decode(msg.data)
        if not reply.ok or reply.run_id is None:
            raise Refusal(503 if reply.retry else 400, reply.error or "the run was refused")
        return reply.run_id

    async def _store_and_run(
        self, job: Job, source: ScimInboundConnection, principal: str, taken: list[Operation]
    ) -> str:
        at = datetime.now(UTC).isoformat()
        records = [
            (str(op.own_key), pushed.Pushed(record=op.record or {}, by=principal, at=at))
            for op in taken
        ]
        await pushed.put(self.bus.js, source.id, records)
        keys = list(dict.fromkeys(str(op.key) for op in taken))
        run_id = await self._request_run(principal, job.id, keys)
        known = self.handed.setdefault(run_id, [])
        known += [k for k in keys if k not in known]
        while len(self.handed) > HANDED:
            self.handed.pop(next(iter(self.handed)))
        log.info("records pushed", job_id=job.id, run_id=run_id, by=principal, records=len(keys))
        return run_id

    def _waiting(self, request: Request) -> float:
        try:
            wait = float(request.query_params.get("wait", 0))
        except ValueError:
            raise Refusal(400, "wait: expected seconds", "invalidValue") from None
        return max(0.0, min(wait, self.bus.settings.scim_wait))

    @contextlib.asynccontextmanager
    async def _following(
        self, job_id: str, wait: float
    ) -> AsyncIterator[asyncio.Queue[str] | None]:
        """With a wait: the run ids of the job's end events, as they are published."""
        if wait <= 0:
            yield None
            return
        ends: asyncio.Queue[str] = asyncio.Queue()

        async def on_event(msg: Msg) -> None:
            try:
                event = decode_event(msg.data)
            except (msgspec.DecodeError, msgspec.ValidationError):
                return
            if is_end(event) or isinstance(event, RunAwaitingApproval | RunDeadLetter):
                ends.put_nowait(event.run_id)

        subscription = await self.bus.broker.connection.subscribe(job_events(job_id), cb=on_event)
        try:
            yield ends
        finally:
            await subscription.unsubscribe()

    async def _wait(
        self, job: Job, run_id: str, ends: asyncio.Queue[str], wait: float
    ) -> Outcomes | None:
        """The run's outcomes once it has ended (or waits for someone), or as they stand
        when `wait` seconds have passed."""
        deadline = time.monotonic() + wait
        pushed = self.handed.get(run_id, ())
        found = await outcomes(self.bus, job.id, run_id, pushed)  # it may have ended already
        while found is None or not found.ended:
            left = deadline - time.monotonic()
            if left <= 0:
                return found
            try:
                ended = await asyncio.wait_for(ends.get(), left)
            except TimeoutError:
                continue
            if ended == run_id:
                return await outcomes(self.bus, job.id, run_id, pushed)
        return found

    def _answer(
        self, op: Operation, base: str, run_id: str | None, found: Outcomes | None
    ) -> dict[str, Any]:
        out: dict[str, Any] = {"method": op.method}
        if op.bulk_id is not None:
            out["bulkId"] = op.bulk_id
        if op.error is not None or op.key is None:
            out["status"] = str(op.status)
            out["response"] = _error_body(op.status, op.error or "", op.scim_type)
            return out
        out["location"] = f"{base}/Runs/{run_id}/Users/{quote(op.key, safe='')}"
        status, detail = found.of(op.key) if found is not None else ("pending", "")
        code = STATUS.get(status, 200)
        out["status"] = str(code)
        if code >= 400:
            out["response"] = _error_body(code, detail or status, "invalidValue")
        return out

    async def not_offered(self, request: Request) -> Response:
        """Users are pushed here, not read: no listing, filter or lookup (RFC 7644 §3.12:
        501, an operation the service provider does not support)."""
        try:
            job, _, _ = await self._job(request)
        except Refusal as refused:
            return error(refused.status, refused.detail, refused.scim_type)
        return error(
            501,
            f"users are pushed to job {job.id!r} here, not read: no listing, filter or "
            f"lookup; each push's outcome is at {self._base(request, job)}/Runs/<run>",
        )

    # What became of them.

    async def run(self, request: Request) -> Response:
        try:
            job, _, _ = await self._job(request)
        except Refusal as refused:
            return error(refused.status, refused.detail)
        run_id = request.path_params["run"]
        found = await self._outcomes(job, run_id)
        if found is None:
            return error(404, f"no run {run_id!r} of job {job.id!r}")
        story = found.story
        records = [
            {"key": key, "status": found.of(key)[0], "detail": found.of(key)[1]}
            for key in found.keys
        ]
        stats = msgspec.to_builtins(story.stats)
        body = {
            "schemas": [RUN_STATUS],
            "id": run_id,
            "job": job.id,
            "state": story.state,
            "reason": story.reason,
            "stats": stats,
            "Resources": records,
        }
        return scim(body)

    async def run_user(self, request: Request) -> Response:
        try:
            job, _, _ = await self._job(request)
        except Refusal as refused:
            return error(refused.status, refused.detail)
        run_id, key = request.path_params["run"], request.path_params["key"]
        found = await self._outcomes(job, run_id)
        if found is None or key not in found.keys:
            return error(404, f"no record {key!r} in run {run_id!r}")
        status, detail = found.of(key)
        return scim({"schemas": [RUN_STATUS], "key": key, "status": status, "detail": detail})

    async def _outcomes(self, job: Job, run_id: str) -> Outcomes | None:
        found = await outcomes(self.bus, job.id, run_id, self.handed.get(run_id, ()))
        if found is None and run_id in self.handed:  # asked for, not yet requested
            found = Outcomes(RunStory(run_id=run_id, job_id=job.id), self.handed[run_id])
        return found

    async def config(self, request: Request) -> Response:
        try:
            await self._job(request)
        except Refusal as refused:
            return error(refused.status, refused.detail)
        no = {"supported": False}
        body = {
            "schemas": ["urn:ietf:params:scim:schemas:core:2.0:ServiceProviderConfig"],
            "patch": no,
            "bulk": {
                "supported": True,
                "maxOperations": MAX_OPERATIONS,
                "maxPayloadSize": MAX_PAYLOAD,
            },
            "filter": {"supported": False, "maxResults": 0},
            "changePassword": no,
            "sort": no,
            "etag": no,
            "authenticationSchemes": [
                {
                    "type": "oauthbearertoken",
                    "name": "system user token",
                    "description": "A system user's token (idsync user add NAME --system)",
                }
            ],
        }
        return scim(body)

    async def resource_types(self, request: Request) -> Response:
        try:
            job, _, _ = await self._job(request)
        except Refusal as refused:
            return error(refused.status, refused.detail)
        user = {
            "schemas": ["urn:ietf:params:scim:schemas:core:2.0:ResourceType"],
            "id": "User",
            "name": "User",
            "endpoint": "/Users",
            "schema": "urn:ietf:params:scim:schemas:core:2.0:User",
            "schemaExtensions": [
                {
                    "schema": "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User",
                    "required": False,
                }
            ],
            "meta": {"resourceType": "ResourceType", "location": f"{self._base(request, job)}"},
        }
        body = {
            "schemas": ["urn:ietf:params:scim:api:messages:2.0:ListResponse"],
            "totalResults": 1,
            "startIndex": 1,
            "itemsPerPage": 1,
            "Resources": [user],
        }
        return scim(body)


async def _body(request: Request) -> bytes:
    """The request's body, refused (413) once it is over MAX_PAYLOAD, before the rest is
    read: a client's gigabyte is never held in memory."""
    declared = request.headers.get("content-length", "")
    too_large = Refusal(413, f"at most {MAX_PAYLOAD} bytes a request", "tooLarge")
    if declared.isdigit() and int(declared) > MAX_PAYLOAD:
        raise too_large
    chunks, size = [], 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > MAX_PAYLOAD:
            raise too_large
        chunks.append(chunk)
    return b"".join(chunks)


def _json(raw: bytes) -> Any:
    try:
        return msgspec.json.decode(raw)
    except msgspec.DecodeError as e:
        raise Refusal(400, f"not JSON: {e}", "invalidSyntax") from None


async def _http_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, HTTPException)
    if exc.status_code == 404:
        detail = f"{request.url.path}: nothing here; a job's SCIM base is /scim/<job>/v2"
    elif exc.status_code == 405:
        detail = f"{request.method} {request.url.path}: not taken here"
    else:
        detail = str(exc.detail)
    return error(exc.status_code, detail)


async def _failed(request: Request, exc: Exception) -> Response:
    log.error("request failed", path=request.url.path, error=repr(exc))
    return error(500, "the request failed on idsync's side; ask again, or tell its operators")


def _error_body(status: int, detail: str, scim_type: str | None) -> dict[str, Any]:
    body: dict[str, Any] = {"schemas": [ERROR], "status": str(status), "detail": detail}
    if scim_type:
        body["scimType"] = scim_type
    return body
