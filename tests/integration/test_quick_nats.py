"""The quick client of `idsync job run` (services/common/quick_nats.py) against a real
nats-server: messages, requests, the 503 of a request nobody answers, a person's
refused subscription; and a run that outlasts the quick path's patience, handed to
the usual following (services/cli/watch.py `resume`)."""

from __future__ import annotations

import asyncio
import subprocess
import time

import nats
from nats.aio.msg import Msg

from schemas.commands import CommandReply, encode, run_command_decoder
from schemas.events import RunFinished, encode_event
from schemas.plan import RunStats
from schemas.subjects import command_subject, event_subject
from services.cli.client import connect
from services.common import credentials
from services.common.embedded import EmbeddedNats
from services.common.jetstream import ensure_infrastructure
from services.common.quick_nats import NO_RESPONDERS, QuickNats
from services.common.settings import Settings

from .conftest import IDSYNC, env_for


def opened(url: str, **who: str) -> QuickNats:
    client = QuickNats.open(url, **who)  # type: ignore[arg-type]
    assert client is not None
    return client


def next_message(client: QuickNats, timeout: float = 5.0) -> tuple[int, str, bytes, bytes]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if (message := client.next(deadline - time.monotonic())) is not None:
            return message.sid, message.subject, message.headers, message.data
    raise AssertionError("no message")


def test_messages_requests_and_a_request_nobody_answers(nats_server: EmbeddedNats) -> None:
    with opened(nats_server.url) as client:
        mine = client.subscribe("quick.>")
        inbox = client.subscribe(f"{client.inbox}.*")
        client.ping(time.monotonic() + 5)
        client.publish("quick.one", b"x" * 70_000)  # more than one read of the socket
        client.publish("quick.two", b"")
        assert next_message(client) == (mine, "quick.one", b"", b"x" * 70_000)
        assert next_message(client) == (mine, "quick.two", b"", b"")
        client.publish("nobody.listens", b"{}", f"{client.inbox}.1")
        sid, subject, headers, _ = next_message(client)
        assert (sid, subject) == (inbox, f"{client.inbox}.1")
        assert headers.startswith(NO_RESPONDERS)


async def test_a_request_answered_by_nats_py(nats_server: EmbeddedNats) -> None:
    nc = await nats.connect(nats_server.url)

    async def answer(msg: Msg) -> None:
        await msg.respond(b"answered " + msg.data)

    await nc.subscribe("quick.ask", cb=answer)
    await nc.flush()
    try:

        def ask() -> tuple[int, str, bytes, bytes]:
            with opened(nats_server.url) as client:
                client.subscribe(f"{client.inbox}.*")
                client.ping(time.monotonic() + 5)
                client.publish("quick.ask", b"this", f"{client.inbox}.1")
                return next_message(client)

        _, _, _, data = await asyncio.to_thread(ask)
    finally:
        await nc.close()
    assert data == b"answered this"


def test_a_person_connects_with_their_password_and_a_refusal_is_kept(
    secure: Settings,
) -> None:
    who = credentials.for_person(secure)
    assert who is not None
    url = secure.nats_url or ""
    assert QuickNats.open(url) is None, "the server asks for credentials: nats-py's to say"
    with opened(
        url,
        user=who.user,
        password=who.password,
        inbox_prefix=credentials.inbox_prefix(who.user),
    ) as client:
        client.subscribe(f"{client.inbox}.*")
        client.subscribe("idsync.cmd.bob.run")  # another person's commands
        client.ping(time.monotonic() + 5)
    assert len(client.refusals) == 1
    assert client.refusals[0].startswith("Permissions Violation for Subscription to")
    assert QuickNats.open(url, user=who.user, password="wrong") is None


async def test_a_run_still_going_is_followed_on_by_the_usual_path(
    nats_server: EmbeddedNats, settings: Settings
) -> None:
    """Nothing for QUIET_CHECK seconds: the quick path hands the run over, the usual
    path asks the journal and subscribes, and the run's end comes to it."""
    run_id = "20261206T120000Z-abcdef"
    asked: list[CommandReply] = []
    async with connect(settings) as session:
        await ensure_infrastructure(session.js, settings)

        async def workflow(msg: Msg) -> None:
            run_command_decoder.decode(msg.data)
            asked.append(CommandReply(ok=True, run_id=run_id))
            await msg.respond(encode(asked[-1]))

        await session.nc.subscribe(command_subject("tester", "run"), cb=workflow)
        await session.nc.flush()
        waiting = await asyncio.create_subprocess_exec(
            *IDSYNC,
            "job",
            "run",
            "quick",
            "--wait",
            env=env_for(settings),
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
        )
        await asyncio.sleep(7.0)  # past the quick path's patience (5 s)
        end = RunFinished(
            run_id=run_id, job_id="quick", plan_hash="h", stats=RunStats(read=1), seconds=7.0
        )
        await session.js.publish(event_subject(end), encode_event(end))
        out, err = await asyncio.wait_for(waiting.communicate(), 60)
    assert waiting.returncode == 0, err.decode()
    assert out.decode().startswith(f"run {run_id} finished in ")
    assert len(asked) == 1, "the run is asked for once"
