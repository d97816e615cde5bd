"""Records pushed to idsync are read by batched direct gets: an answer that is neither a
message nor the end of a batch (the stream's leader lost, a timeout) fails the read. Taken
for the end of the stream, the records after it would be missing from the run's source,
and their objects taken for absent."""

from __future__ import annotations

import json
from typing import Any, cast

import pytest
from nats.aio.client import Client
from nats.aio.msg import Msg

from core.errors import Unreachable
from services.common import pushed
from services.common.jetstream import PUSHED_BUCKET

Answer = list[tuple[bytes, dict[str, str]]]


class Server:
    """Answers each direct get with the next of `answers` (messages, then a status)."""

    def __init__(self, answers: list[Answer]) -> None:
        self.answers = answers
        self.asked: list[dict[str, Any]] = []
        self.inbox: list[Msg] = []

    def new_inbox(self) -> str:
        return "_INBOX.1"

    async def subscribe(self, subject: str) -> Server:
        return self

    async def publish(self, subject: str, data: bytes, reply: str) -> None:
        self.asked.append(json.loads(data))
        answer = self.answers.pop(0)
        self.inbox = [Msg(cast(Any, None), reply, "", body, heads) for body, heads in answer]

    async def next_msg(self, timeout: float) -> Msg:
        return self.inbox.pop(0)

    async def unsubscribe(self) -> None:
        return None


def record(seq: int, pending: int) -> tuple[bytes, dict[str, str]]:
    body = pushed.Pushed(record={"userName": f"u{seq}"}, by="crm", at="2026-12-07T10:00:00Z")
    heads = {
        "Nats-Subject": f"$KV.{PUSHED_BUCKET}.crm.u{seq}",
        "Nats-Sequence": str(seq),
        "Nats-Num-Pending": str(pending),
    }
    return pushed._encode(body), heads


END = (b"", {"Status": "204", "Description": "EOB"})


async def read(server: Server) -> list[str]:
    batches = pushed.read(cast(Client, server), "crm", 100)
    return [str(r["userName"]) async for batch in batches for r in batch]


async def test_every_batch_of_pushed_records_is_read() -> None:
    server = Server([[record(1, 2), END], [record(2, 1), record(3, 0), END]])
    assert await read(server) == ["u1", "u2", "u3"]
    assert [asked["seq"] for asked in server.asked] == [1, 2]


@pytest.mark.parametrize("status", ["503", "408"])
async def test_a_batch_answered_with_an_error_fails_the_read_rather_than_end_it(
    status: str,
) -> None:
    # The first batch says two more records follow; the next one is answered "503 No
    # Responders" (no stream leader): u2 and u3 would have looked absent.
    failed = (b"", {"Status": status, "Description": "No Responders"})
    server = Server([[record(1, 2), END], [failed]])
    with pytest.raises(Unreachable, match=f"answered {status}.*part-way"):
        await read(server)
