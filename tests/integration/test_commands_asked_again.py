"""A command asked while the server says no workflow service listens for it is asked
again for a moment: a workflow starting, or reconnecting to the server, answers it. Only
then: nobody received it, so it ran nothing."""

from __future__ import annotations

import asyncio

import pytest
from nats.aio.msg import Msg

from core.errors import Unreachable
from schemas.commands import CommandReply, encode
from schemas.subjects import command_subject
from services.common.asking import NOBODY_WAIT
from services.common.client import Session


async def test_a_workflow_listening_a_moment_later_answers(session: Session) -> None:
    asked: list[bytes] = []

    async def workflow(msg: Msg) -> None:
        asked.append(msg.data)
        await msg.respond(encode(CommandReply(ok=True, run_id="r1")))

    async def listening_later() -> None:
        await asyncio.sleep(0.5)
        await session.nc.subscribe(command_subject("*", "run"), cb=workflow)

    later = asyncio.create_task(listening_later())
    assert await session.request_run("nightly") == "r1"
    await later
    assert len(asked) == 1  # asked again only while nobody listened


async def test_no_workflow_at_all_is_said(session: Session) -> None:
    started = asyncio.get_running_loop().time()
    with pytest.raises(Unreachable, match="no workflow service answers run commands"):
        await session.request_run("nightly")
    assert asyncio.get_running_loop().time() - started >= NOBODY_WAIT
