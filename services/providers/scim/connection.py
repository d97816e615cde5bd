"""One HTTP session with a SCIM service: authentication (a bearer token, or OAuth client
credentials), waiting where the service says to slow down, and what a failed answer
means for the run.

httpx: an async client with connection pooling and keep-alive, per-request timeouts and
TLS settings in one place (a CA file, or no verification for tests), and the request
and response objects the tests' own tools (scim2-client) use too.

With `requests_per_second`, every request (one try of it) first takes its turn in a
process-wide pace per connection (providers/pacing.py, the one Entra's limits use), so
the service sees no more than that on average; a 429 pauses that pace for every request.
A 429 (or a 503) is waited out as its Retry-After says — seconds or an HTTP date; one
second, doubling, without it — for at most `max_wait` seconds per request; past that the
request is `Transient` and the runner retries the batch later. A refused token is
`BadInput` (a person must fix it), a service that does not answer `Unreachable`
(reading) or `Transient` (writing); any other refusal is returned to the caller, which
makes it that record's error in SCIM's own words (`409 uniqueness: …`).
"""

from __future__ import annotations

import asyncio
import ssl
import time
from collections.abc import Mapping
from email.utils import parsedate_to_datetime
from typing import Any

import httpx
import msgspec

from core.errors import BadInput, Transient, Unreachable
from schemas.connections import ScimConnection, ScimOAuth
from services.common.secrets import resolve_secret

from ..pacing import Pace, shared_pace
from .messages import error_text

MEDIA = "application/scim+json"
SLOW_DOWN = frozenset({429, 503})
_encode = msgspec.json.Encoder().encode
_tokens: dict[tuple[str, str, str | None], tuple[str, float]] = {}
"""OAuth tokens by (token URL, client, scope) until they expire: a provider is opened per
batch, and one token serves them all."""


class Refused(Exception):
    """A request the service refused (a 4xx other than 401, 403 or 429): `status` and the
    text to report for the record."""

    def __init__(self, status: int, text: str) -> None:
        super().__init__(text)
        self.status = status
        self.text = text


class Session:
    def __init__(self, connection: ScimConnection) -> None:
        self.connection = connection
        self.base = connection.url.rstrip("/")
        verify: ssl.SSLContext | bool = connection.verify
        if connection.ca_file:
            verify = ssl.create_default_context(cafile=connection.ca_file)
        n = max(1, connection.concurrency)
        self.client = httpx.AsyncClient(
            timeout=connection.timeout,
            verify=verify,
            limits=httpx.Limits(max_connections=n, max_keepalive_connections=n),
            headers={"Accept": MEDIA},
        )
        self.waited = 0.0
        """Seconds spent waiting for the service's Retry-After (reported, and in tests)."""
        self.slowed = 0
        """Answers that said to slow down."""
        self.pace: Pace | None = None
        """The ceiling on requests a second, when the connection sets one."""
        if connection.requests_per_second is not None:
            key = ("scim", connection.id, self.base)
            self.pace = shared_pace(key, connection.requests_per_second)

    async def close(self) -> None:
        await self.client.aclose()

    def url(self, path: str) -> str:
        if path.startswith(("http://", "https://")):
            return path
        return f"{self.base}/{path.lstrip('/')}"

    async def _authorization(self, fresh: bool = False) -> str | None:
        c = self.connection
        if c.token is not None:
            return "Bearer " + resolve_secret(c.token, f"connection {c.id}: token")
        if c.oauth is not None:
            return "Bearer " + await self._oauth(c.oauth, fresh)
        return None

    async def _oauth(self, oauth: ScimOAuth, fresh: bool) -> str:
        key = (oauth.token_url, oauth.client_id, oauth.scope)
        kept = _tokens.get(key)
        if kept is not None and not fresh and kept[1] > time.monotonic():
            return kept[0]
        secret = resolve_secret(oauth.client_secret, f"connection {self.connection.id}: oauth")
        form = {"grant_type": "client_credentials"}
        if oauth.scope:
            form["scope"] = oauth.scope
        try:
            answer = await self.client.post(
                oauth.token_url, data=form, auth=(oauth.client_id, secret)
            )
        except httpx.HTTPError as e:
            raise Unreachable(f"scim: {oauth.token_url}: {_reason(e)}") from e
        if answer.status_code != 200:
            text = answer.text.strip()[:300]
            raise BadInput(
                f"scim: {oauth.token_url} refused client {oauth.client_id!r}: "
                f"{answer.status_code} {text}"
            )
        body = answer.json()
        token = str(body.get("access_token", ""))
        lifetime = float(body.get("expires_in") or 3600)
        _tokens[key] = (token, time.monotonic() + max(0.0, lifetime - 30))
        return token

    async def send(
        self,
        method: str,
        path: str,
        *,
        params: Mapping[str, str | int] | None = None,
        body: Any = None,
        headers: Mapping[str, str] | None = None,
        writing: bool = False,
    ) -> httpx.Response:
        """The service's answer, after waiting out what says to slow down. Raises for a
        refused token (BadInput) and an unanswered request (Unreachable, or Transient while
        `writing`); returns every other answer."""
        url = self.url(path)
        content = _encode(body) if body is not None else None
        waited, delay, fresh = 0.0, 1.0, False
        while True:
            sent = dict(headers or {})
            if (authorization := await self._authorization(fresh)) is not None:
                sent["Authorization"] = authorization
            if content is not None:
                sent["Content-Type"] = MEDIA
            if self.pace is not None:
                await self.pace.take()
            try:
                answer = await self.client.request(
                    method, url, params=params, content=content, headers=sent
                )
            except httpx.HTTPError as e:
                text = f"scim: {method} {url}: {_reason(e)}"
                raise (Transient(text) if writing else Unreachable(text)) from e
            status = answer.status_code
            if status == 401 and self.connection.oauth is not None and not fresh:
                fresh = True  # an expired token: ask for another once
                continue
            if status in (401, 403):
                raise BadInput(
                    f"scim: {self.base} refused the credentials of connection "
                    f"{self.connection.id!r} ({error_text(status, answer.content)})"
                )
            if status in SLOW_DOWN and (status == 429 or "retry-after" in answer.headers):
                self.slowed += 1
                pause = _retry_after(answer.headers.get("retry-after"), delay)
                if waited + pause > self.connection.max_wait:
                    raise Transient(
                        f"scim: {self.base} asks to wait {pause:.0f} s more after {waited:.0f} s "
                        f"(max_wait {self.connection.max_wait:.0f} s); the batch will be retried"
                    )
                if self.pace is not None:
                    self.pace.pause(pause)  # every request of this service waits too
                await asyncio.sleep(pause)
                waited += pause
                self.waited += pause
                delay = min(delay * 2, 60.0)
                continue
            if status >= 500:
                text = f"scim: {method} {url}: {error_text(status, answer.content)}"
                raise (Transient(text) if writing else Unreachable(text))
            return answer

    async def get_json(self, path: str, params: Mapping[str, str | int] | None = None) -> bytes:
        """The body of a GET that must succeed; a refusal is BadInput naming the URL."""
        answer = await self.send("GET", path, params=params)
        if answer.status_code != 200:
            raise BadInput(
                f"scim: GET {self.url(path)}: {error_text(answer.status_code, answer.content)}"
            )
        return answer.content


def refused(answer: httpx.Response) -> Refused:
    return Refused(answer.status_code, error_text(answer.status_code, answer.content))


def _retry_after(value: str | None, default: float) -> float:
    if not value:
        return default
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return default
    return max(0.0, when.timestamp() - time.time())


def _reason(error: httpx.HTTPError) -> str:
    if isinstance(error, httpx.TimeoutException):
        return "no answer in time"
    return str(error) or type(error).__name__
