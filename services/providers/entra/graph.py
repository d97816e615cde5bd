"""Speaking to Microsoft Graph: httpx (async) with the app's token, the pace of
limits.py, and Graph's throttling honoured (learn.microsoft.com/graph/throttling): a 429
waits what its Retry-After says — every request of ours to this app and tenant waits with
it — and 429, 503 and 504 are tried again, `limits.attempts` times in all, before the
answer is handed on as it is (so a record that still fails says Graph's code and message)
— but a create's (`Call.once`): a 503 or 504 may come after Graph made the object, so
its program looks it up before sending it again.

`execute` runs many small programs at once — each one object's change as a few requests,
each request's answer deciding the next — packing the requests of all of them into
$batch requests of up to 20 (learn.microsoft.com/graph/json-batching). A program's
requests that must go in order are chained with `dependsOn`; a request Graph throttles
inside a $batch is sent again alone, with those that depended on it.
"""

from __future__ import annotations

import asyncio
import json
import ssl
import time
from collections.abc import AsyncIterator, Generator
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

import httpx
import structlog

from core.errors import BadInput, Transient, Unreachable
from schemas.connections import EntraConnection

from .errors import Answer
from .limits import Limits, backoff, limits_for, retry_after
from .signin import Token, token

log = structlog.get_logger("idsync.entra")

RETRIED = frozenset({429, 503, 504})
BATCH = 20


@dataclass
class Call:
    """One request, its URL below /v1.0 ("/users?$filter=…", query already encoded)."""

    method: str
    url: str
    body: Any = None
    headers: dict[str, str] | None = None
    once: bool = False
    """A create: never sent again after an answer that leaves unknown whether Graph made
    the object (503, 504, an answer the $batch left out, a $batch that failed so or in
    transit) — that answer is the program's, which looks the object up before trying
    again."""


@dataclass
class Step:
    """What a program asks for next: requests sent together; `chained`: in order, each
    after the one before succeeded (dependsOn)."""

    calls: list[Call]
    chained: bool = False


Program = Generator[Step, list[Answer], str | None]
"""Yields steps, is sent their answers (one per call, in order), returns the error of its
change, or None."""


def url(path: str, **params: str) -> str:
    """A relative URL with its query encoded as Graph reads it."""
    if not params:
        return path
    query = "&".join(f"{k}={quote(v, safe=',()=/:@')}" for k, v in params.items())
    return f"{path}?{query}"


@dataclass
class _Unit:
    program: int
    step: Step
    answers: list[Answer | None]
    tries: list[int]
    not_before: float = 0.0

    def pending(self) -> list[int]:
        return [i for i, a in enumerate(self.answers) if a is None]


class Graph:
    """One side's HTTP client; the pace and the app's token are shared in the process."""

    def __init__(self, connection: EntraConnection) -> None:
        self.connection = connection
        self.base = connection.graph.rstrip("/") + "/v1.0"
        self.limits: Limits = limits_for(connection)
        self.attempts = connection.limits.attempts
        self._token: Token | None = None
        self._http: httpx.AsyncClient | None = None

    async def open(self) -> None:
        limits = self.connection.limits
        self._http = httpx.AsyncClient(
            verify=ssl.create_default_context(cafile=self.connection.ca_file)
            if self.connection.ca_file
            else True,
            timeout=limits.timeout,
            limits=httpx.Limits(max_connections=limits.concurrency + 2),
            headers={"Accept": "application/json"},
        )
        await self._authorization()

    def token_value(self) -> str:
        return self._token.value if self._token is not None else ""

    async def close(self) -> None:
        http, self._http = self._http, None
        if http is not None:
            await http.aclose()

    async def _authorization(self, *, fresh: bool = False) -> str:
        if fresh or self._token is None or time.monotonic() >= self._token.until:
            self._token = await token(self.connection, fresh=fresh)
        return f"Bearer {self._token.value}"

    # One HTTP request.

    async def send(
        self,
        method: str,
        path: str,
        body: Any = None,
        headers: dict[str, str] | None = None,
        *,
        writes: int | None = None,
        requests: int = 1,
        once: bool = False,
    ) -> Answer:
        """The answer to one request, tried again while Graph throttles or is unavailable
        (`once`: only while it throttles, which it does before doing anything)."""
        assert self._http is not None, "open() first"
        target = path if path.startswith("https://") else self.base + path
        writes = (0 if method == "GET" else 1) if writes is None else writes
        renewed = False
        for attempt in range(1, self.attempts + 1):
            await self.limits.take(writes, requests)
            try:
                sent = await self._http.request(
                    method,
                    target,
                    content=None if body is None else json.dumps(body).encode(),
                    headers={
                        "Authorization": await self._authorization(),
                        **({"Content-Type": "application/json"} if body is not None else {}),
                        **(headers or {}),
                    },
                )
            except httpx.TransportError as e:
                if once and not isinstance(e, httpx.ConnectError):
                    return _UNKNOWN  # it may have been carried out: the caller looks
                if attempt == self.attempts:
                    where = self.connection.graph
                    if isinstance(e, httpx.ConnectError):
                        raise Unreachable(f"entra: {where} did not answer ({e})") from None
                    raise Transient(
                        f"entra: {where}: {type(e).__name__} {e}; the batch will be retried"
                    ) from None
                await asyncio.sleep(backoff(attempt, None))
                continue
            answer = Answer(sent.status_code, _json(sent), dict(sent.headers))
            if answer.status == 401 and not renewed:
                renewed = True  # expired or revoked: one fresh token, then as Graph says
                await self._authorization(fresh=True)
                continue
            if answer.status in RETRIED and attempt < self.attempts:
                if once and answer.status != 429:
                    return answer
                await self._wait(answer, attempt)
                continue
            return answer
        raise AssertionError("unreachable")

    async def _wait(self, answer: Answer, attempt: int) -> None:
        said = retry_after(answer.headers or {})
        pause = backoff(attempt, said)
        if answer.status == 429:
            scope = (answer.headers or {}).get("x-ms-throttle-scope", "")
            self.limits.told_to_wait(pause, writes_only="/Write/" in scope)
            log.info("graph throttled: waiting", seconds=pause, scope=scope or None)
        await asyncio.sleep(pause)

    async def get(self, path: str, headers: dict[str, str] | None = None) -> dict[str, Any]:
        answer = await self.send("GET", path, headers=headers)
        if not answer.ok:
            raise GraphRefused(answer, path)
        return answer.body if isinstance(answer.body, dict) else {}

    async def pages(
        self, path: str, headers: dict[str, str] | None = None
    ) -> AsyncIterator[dict[str, Any]]:
        """Every page of a collection, by @odata.nextLink."""
        next_url: str | None = path
        while next_url is not None:
            answer = await self.send("GET", next_url, headers=headers)
            if not answer.ok:
                raise GraphRefused(answer, next_url)
            page = listing(answer)
            if page is None:
                raise BadInput(f"entra: GET {next_url.split('?')[0]}: {not_a_page(answer)}")
            yield page
            found = page.get("@odata.nextLink")
            next_url = str(found) if found else None

    def relative(self, link: str) -> str:
        return link[len(self.base) :] if link.startswith(self.base) else link

    # Many small programs through $batch.

    async def execute(self, programs: list[Program]) -> list[str | None]:
        outcomes: list[str | None] = [None] * len(programs)
        units: list[_Unit] = []
        for number, program in enumerate(programs):
            self._advance(number, program, None, units, outcomes)
        while units:
            now = time.monotonic()
            ready = [u for u in units if u.not_before <= now]
            if not ready:
                await asyncio.sleep(min(u.not_before for u in units) - now)
                continue
            batches = _pack(ready, self.connection.limits.concurrency)
            await asyncio.gather(*(self._batch(batch) for batch in batches))
            for unit in [u for u in units if not u.pending()]:
                units.remove(unit)
                answers = [a for a in unit.answers if a is not None]
                self._advance(unit.program, programs[unit.program], answers, units, outcomes)
        return outcomes

    @staticmethod
    def _advance(
        number: int,
        program: Program,
        answers: list[Answer] | None,
        units: list[_Unit],
        outcomes: list[str | None],
    ) -> None:
        try:
            step = next(program) if answers is None else program.send(answers)
        except StopIteration as done:
            outcomes[number] = done.value
            return
        if not step.calls:
            raise AssertionError("a program asked for nothing")
        n = len(step.calls)
        units.append(_Unit(number, step, [None] * n, [0] * n))

    async def _batch(self, parts: list[tuple[_Unit, list[int]]]) -> None:
        """One $batch: the given calls of some units; each answer put in its place, or
        the call made pending again (later) when Graph throttled or could not serve it."""
        requests: list[dict[str, Any]] = []
        where: dict[str, tuple[_Unit, int]] = {}
        for unit, indexes in parts:
            previous: str | None = None
            for i in indexes:
                call = unit.step.calls[i]
                rid = str(len(requests) + 1)
                sub: dict[str, Any] = {"id": rid, "method": call.method, "url": call.url}
                if call.body is not None:
                    sub["body"] = call.body
                    sub["headers"] = {"Content-Type": "application/json", **(call.headers or {})}
                elif call.headers:
                    sub["headers"] = dict(call.headers)
                if unit.step.chained and previous is not None:
                    sub["dependsOn"] = [previous]
                previous = rid
                requests.append(sub)
                where[rid] = (unit, i)
        writes = sum(1 for r in requests if r["method"] != "GET")
        await self.limits.take(writes, len(requests))
        once = any(unit.step.calls[i].once for unit, indexes in parts for i in indexes)
        whole = await self._post_batch(requests, once=once)
        answers: dict[str, Answer] = {}
        if whole.ok and isinstance(whole.body, dict):
            for item in whole.body.get("responses") or []:
                answers[str(item.get("id"))] = Answer(
                    int(item.get("status", 500)),
                    item.get("body"),
                    {str(k): str(v) for k, v in (item.get("headers") or {}).items()},
                )
        now = time.monotonic()
        for rid, (unit, i) in where.items():
            answer = answers.get(rid) or (_LEFT_OUT if whole.ok else whole)
            unit.tries[i] += 1
            blocked = answer.status == 424 and unit.step.chained
            if unit.step.calls[i].once and unknown(answer):
                unit.answers[i] = answer  # the program looks before sending it again
                continue
            if (answer.status in RETRIED or blocked) and unit.tries[i] < self.attempts:
                if answer.status == 429:
                    said = retry_after(answer.headers or {})
                    pause = backoff(unit.tries[i], said)
                    scope = (answer.headers or {}).get("x-ms-throttle-scope", "")
                    self.limits.told_to_wait(pause, writes_only="/Write/" in scope)
                    unit.not_before = max(unit.not_before, now + pause)
                elif not blocked:
                    unit.not_before = max(
                        unit.not_before,
                        now + backoff(unit.tries[i], retry_after(answer.headers or {})),
                    )
                continue  # still pending: sent again in a later $batch
            unit.answers[i] = answer
        for unit, _ in parts:
            if unit.step.chained and unit.pending():  # a throttled link: the rest go again after it
                first = unit.pending()[0]
                for i in range(first, len(unit.answers)):
                    unit.answers[i] = None

    async def _post_batch(self, requests: list[dict[str, Any]], *, once: bool = False) -> Answer:
        """The $batch itself, tried again when the whole of it is throttled or fails in
        transit (its requests' own statuses are read by the caller); one holding a create
        (`once`) only when throttled."""
        body = {"requests": requests}
        return await self.send("POST", "/$batch", body, writes=0, requests=0, once=once)


_UNKNOWN = Answer(
    504, {"error": {"code": "", "message": "the connection broke before Graph answered"}}
)
"""The answer to a create whose request was sent and never answered."""


def unknown(answer: Answer) -> bool:
    """Whether the answer leaves unknown if the request was carried out: those sent again
    but a 429, which Graph gives before doing anything — a 503 or a 504 (Graph's gateway
    may answer so after the write), the answer a $batch left out, none at all."""
    return answer.status in (502, 503, 504)


_LEFT_OUT = Answer(
    503, {"error": {"code": "", "message": "Graph's $batch answer held no response to it"}}
)
"""The answer to a request a $batch's answer leaves out: sent again (then a failure)."""


def _pack(ready: list[_Unit], concurrency: int) -> list[list[tuple[_Unit, list[int]]]]:
    """Up to `concurrency` $batch requests of at most 20 calls from the ready units: a
    chained unit's pending calls stay in one $batch (they depend on each other)."""
    batches: list[list[tuple[_Unit, list[int]]]] = []
    sizes: list[int] = []
    for unit in ready:
        pending = unit.pending()
        pieces = (
            [pending]
            if unit.step.chained
            else [pending[i : i + BATCH] for i in range(0, len(pending), BATCH)]
        )
        for piece in pieces:
            piece = piece[:BATCH]
            spot = next((b for b, size in enumerate(sizes) if size + len(piece) <= BATCH), None)
            if spot is None:
                if len(batches) >= concurrency:
                    return batches
                batches.append([])
                sizes.append(0)
                spot = len(batches) - 1
            batches[spot].append((unit, piece))
            sizes[spot] += len(piece)
    return batches


def listing(answer: Answer) -> dict[str, Any] | None:
    """A page of a collection (its objects in `value`); None for an answer that is none
    (a gateway's page served with 200, an empty body): taken for a page without objects,
    it would end the read, the objects not read taken for absent."""
    body = answer.body
    if isinstance(body, dict) and isinstance(body.get("value"), list):
        return body
    return None


def not_a_page(answer: Answer) -> str:
    return (
        f"Graph's answer is no page of objects {answer.said}; the read stops here rather "
        "than take the objects not read for absent"
    )


class GraphRefused(BadInput):
    """A read Graph refused (a missing permission, a filter it does not take): the run
    cannot go on without it."""

    def __init__(self, answer: Answer, path: str) -> None:
        self.answer = answer
        super().__init__(f"entra: GET {path.split('?')[0]}: {answer.said}")


def _json(response: httpx.Response) -> Any:
    if not response.content:
        return None
    try:
        return response.json()
    except ValueError:
        return {"error": {"code": "", "message": response.text[:300]}}
