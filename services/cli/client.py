"""The command line's side of NATS: connect, send commands, read the journal, follow events."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager, suppress

import msgspec
import nats
import nats.errors
import nats.js.errors
from nats.aio.client import Client
from nats.aio.msg import Msg
from nats.js import JetStreamContext
from nats.js.api import DeliverPolicy

from schemas.commands import CommandReply, DecideCommand, RunCommand, encode, reply_decoder
from schemas.events import Event, decode_event
from schemas.subjects import command_subject
from services.common.errors import BadInput, IdsyncError, Transient, Unreachable
from services.common.jetstream import JOURNAL, ensure_infrastructure
from services.common.settings import Settings, server_list
from services.common.store import Store


class Session:
    """A connection for one command."""

    def __init__(self, nc: Client, settings: Settings) -> None:
        self.nc = nc
        self.settings = settings
        self.js: JetStreamContext = nc.jetstream()
        self.store = Store(self.js)

    async def ensure(self) -> None:
        await ensure_infrastructure(self.js, self.settings)

    async def request_run(
        self, job_id: str, keys: list[str] | None = None, changed_only: bool = False
    ) -> str:
        """Ask the workflow service to run a job; the run's id."""
        command = RunCommand(job_id=job_id, keys=keys, changed_only=changed_only)
        return await self._command("run", command)

    async def decide(self, verb: str, run_id: str, reason: str = "") -> str:
        """Approve or deny (`verb`) a run that waits for approval."""
        return await self._command(verb, DecideCommand(run_id=run_id, reason=reason))

    async def command(self, verb: str, command: msgspec.Struct) -> str:
        """Send a command to the services; the run id its reply names."""
        return await self._command(verb, command)

    async def _command(self, verb: str, command: msgspec.Struct) -> str:
        subject = command_subject(self.settings.principal, verb)
        try:
            answer = await self.nc.request(subject, encode(command), timeout=10)
        except nats.errors.NoRespondersError:
            raise Unreachable(
                f"no workflow service answers {verb} commands: start the services with "
                "`idsync up` (or `idsync serve workflow`)"
            ) from None
        except nats.errors.TimeoutError:
            raise Unreachable("the workflow service did not answer within 10 s") from None
        reply: CommandReply = reply_decoder.decode(answer.data)
        if not reply.ok or reply.run_id is None:
            refused = Transient if reply.retry else BadInput
            raise refused(reply.error or f"the {verb} command was refused")
        return reply.run_id

    async def journal(self, subject: str = "idsync.run.>") -> list[Event]:
        """Every event in the journal on `subject`, oldest first (an ordered consumer,
        which leaves nothing behind on the server)."""
        try:
            info = await self.js.stream_info(JOURNAL)
        except nats.js.errors.NotFoundError:
            return []
        if info.state.messages == 0:
            return []
        sub = await self.js.subscribe(
            subject, ordered_consumer=True, deliver_policy=DeliverPolicy.ALL
        )
        events: list[Event] = []
        try:
            while True:
                try:
                    msg = await sub.next_msg(timeout=1.0)
                except nats.errors.TimeoutError:
                    break
                try:
                    events.append(decode_event(msg.data))
                except (msgspec.DecodeError, msgspec.ValidationError):
                    continue  # not ours to read: a newer tag this version does not know
                if msg.metadata.num_pending == 0:
                    break
        finally:
            await sub.unsubscribe()
        return events

    @asynccontextmanager
    async def follow(self, subject: str) -> AsyncIterator[asyncio.Queue[Event]]:
        """Events as they are published (a core subscription: nothing left behind)."""
        queue: asyncio.Queue[Event] = asyncio.Queue()

        async def on_message(msg: Msg) -> None:
            with suppress(msgspec.DecodeError, msgspec.ValidationError):
                queue.put_nowait(decode_event(msg.data))

        sub = await self.nc.subscribe(subject, cb=on_message)
        try:
            yield queue
        finally:
            await sub.unsubscribe()


async def _quiet(error: Exception) -> None:
    """Connection errors are reported once, by `open_connection`, not as tracebacks."""


async def open_connection(url: str, timeout: float = 3.0) -> Client:
    """A client connection, or Unreachable within `timeout` seconds. (With
    allow_reconnect=False nats-py retries a refused first connection forever.)"""
    try:
        return await asyncio.wait_for(
            nats.connect(
                server_list(url),
                connect_timeout=timeout,
                max_reconnect_attempts=1,
                reconnect_time_wait=0.1,
                error_cb=_quiet,
            ),
            timeout * 2,
        )
    except (OSError, nats.errors.Error, TimeoutError) as error:
        raise Unreachable(
            f"cannot reach NATS at {url} ({error or type(error).__name__}).\n"
            "Is `idsync up` running? Or set IDSYNC_NATS_URL to a server that is."
        ) from None


@asynccontextmanager
async def connect(settings: Settings) -> AsyncIterator[Session]:
    nc = await open_connection(settings.resolve_nats_url())
    try:
        yield Session(nc, settings)
    except nats.errors.Error as error:
        raise IdsyncError(f"NATS: {error}") from None
    finally:
        await nc.close()
