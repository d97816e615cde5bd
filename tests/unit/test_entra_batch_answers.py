"""A $batch answer of Graph's that leaves out the response to one of its requests: that
request is sent again, never answered by the $batch's own answer (a group's members read
from it would be none, and a run would remove them all)."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from schemas.connections import EntraConnection, EntraLimits
from services.providers.entra.errors import Answer
from services.providers.entra.graph import Call, Graph, Program, Step


def test_a_response_the_batch_leaves_out_is_asked_for_again(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr("services.providers.entra.graph.backoff", lambda *_: 0.0)
    graph = Graph(
        EntraConnection(
            id="cloud", tenant="t.example", client_id="app", limits=EntraLimits(attempts=3)
        )
    )
    sent: list[list[str]] = []

    async def post(requests: list[dict[str, Any]], *, once: bool = False) -> Answer:
        sent.append([r["url"] for r in requests])
        responses = [
            {"id": r["id"], "status": 200, "body": {"value": [{"id": r["url"][-1]}]}}
            for r in requests
            if len(sent) > 1 or r["url"].endswith("b")  # the first leaves "a" out
        ]
        return Answer(200, {"responses": responses})

    graph._post_batch = post  # type: ignore[method-assign]
    read: dict[str, Any] = {}

    def reading(link: str) -> Program:
        answers = yield Step([Call("GET", link)])
        read[link] = answers[0].body
        return None

    asyncio.run(graph.execute([reading("/x/a"), reading("/x/b")]))
    assert read == {"/x/a": {"value": [{"id": "a"}]}, "/x/b": {"value": [{"id": "b"}]}}
    assert sent == [["/x/a", "/x/b"], ["/x/a"]]


def test_a_response_left_out_every_time_is_a_failure_of_that_request(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr("services.providers.entra.graph.backoff", lambda *_: 0.0)
    graph = Graph(
        EntraConnection(
            id="cloud", tenant="t.example", client_id="app", limits=EntraLimits(attempts=3)
        )
    )

    async def post(requests: list[dict[str, Any]], *, once: bool = False) -> Answer:
        return Answer(200, {"responses": []})

    graph._post_batch = post  # type: ignore[method-assign]
    got: list[Answer] = []

    def reading(link: str) -> Program:
        answers = yield Step([Call("GET", link)])
        got.append(answers[0])
        return None

    asyncio.run(graph.execute([reading("/x/a")]))
    assert [(a.ok, a.message) for a in got] == [
        (False, "Graph's $batch answer held no response to it")
    ]
