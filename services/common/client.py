"""A client of the services over NATS — the command line and the portal: connect, send
commands in a person's name, read the journal, follow events."""

from __future__ import annotations

import asyncio
import ssl
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager, suppress

import msgspec
import nats
import nats.errors
import nats.js.errors
from nats.aio.client import Client
from nats.aio.msg import Msg
from nats.js import JetStreamContext

from core.errors import BadInput, IdsyncError, NotFound, Refused, Unreachable
from schemas.collections import Collection
from schemas.commands import (
    CollectionCommand,
    CommandReply,
    DecideCommand,
    JobDeleteCommand,
    RunCommand,
    TemplateDeleteCommand,
    encode,
)
from schemas.connections import Connection
from schemas.events import Event, decode_event, encode_event
from schemas.jobs import Job
from schemas.previews import PreviewReply, PreviewRequest, preview_reply_decoder
from schemas.subjects import RUN_EVENTS, command_subject, event_subject, preview_subject
from schemas.templates import Template

from . import credentials
from .asking import (
    ANSWER_WAIT,
    NOBODY_PAUSE,
    NOBODY_WAIT,
    no_answer_in_time,
    nobody_answers,
    refusal,
    reply_to,
    run_reply,
)
from .credentials import Credentials, inbox_prefix
from .jetstream import JOURNAL
from .reading import journal_events
from .runs import Runs
from .settings import Settings, server_list
from .store import Store

PREVIEW_WAIT = 120.0
"""Seconds a runner may take to plan a preview (it reads both sides whole)."""


class Session:
    """A connection for one command."""

    def __init__(
        self,
        nc: Client,
        settings: Settings,
        *,
        refusals: list[str] | None = None,
        user: str | None = None,
    ) -> None:
        self.nc = nc
        self.settings = settings
        self.js: JetStreamContext = nc.jetstream()
        self.store = Store(self.js)
        self.refusals = refusals if refusals is not None else []
        """The server's permission violations on this connection, newest last."""
        self.user = user

    @property
    def runs(self) -> Runs:
        """The runs' states (an open server lets a person end a deleted job's runs)."""
        return Runs(self.js)

    async def publish(self, event: Event) -> bool:
        """Store the event in the journal, once (its id is the Nats-Msg-Id)."""
        ack = await self.js.publish(
            event_subject(event),
            encode_event(event),
            stream=JOURNAL,
            headers={"Nats-Msg-Id": event.id},
        )
        return not ack.duplicate

    @property
    def authenticated(self) -> bool:
        """Connected as a user: the server then checks permissions, and what people may
        not write themselves goes to the workflow as commands."""
        return self.user is not None

    async def apply_connections(self, connections: list[Connection]) -> None:
        """Store the connections (through the workflow when authenticated). A command
        never creates a stream or bucket: only the services do, with their settings."""
        if self.authenticated:
            await self._ask("connection-apply", msgspec.json.encode(connections))
            return
        for connection in connections:
            await self.store.put_connection(connection)

    async def apply_job(self, job: Job) -> bool:
        """Store the job (through the workflow when authenticated); True if it existed."""
        if self.authenticated:
            reply = await self._ask("job-apply", msgspec.json.encode(job))
            return reply.note == "updated"
        existed = await self.store.find_job(job.id) is not None
        await self.store.put_job(job)
        return existed

    async def delete_job(self, job_id: str, forget_history: bool = False) -> str:
        """Delete the job (and its history, asked to); what was done, in words."""
        if self.authenticated:
            command = JobDeleteCommand(job_id=job_id, forget_history=forget_history)
            return (await self._ask("job-delete", encode(command))).note
        from services.common.ending import cancel_job_runs
        from services.common.purging import forget_history as forget
        from services.common.purging import forget_schedules, forget_state

        if not await self.store.delete_job(job_id):
            raise NotFound(f"no job {job_id!r}: `idsync job list` shows the jobs there are")
        await forget_schedules(self.nc, job_id)
        await forget_state(self.nc, job_id)
        await cancel_job_runs(self, job_id, self.settings.principal)
        if forget_history:
            runs = await forget(self.nc, job_id, self.settings.principal)
            return f"deleted with the history of {runs} runs"
        return "deleted"

    async def apply_collection(self, collection: Collection) -> bool:
        """Store the collection (through the workflow when authenticated); True if it existed."""
        if self.authenticated:
            reply = await self._ask("collection-apply", msgspec.json.encode(collection))
            return reply.note == "updated"
        existed = await self.store.find_collection(collection.id) is not None
        await self.store.put_collection(collection)
        return existed

    async def delete_collection(self, collection_id: str) -> None:
        if self.authenticated:
            await self._ask(
                "collection-delete", encode(CollectionCommand(collection_id=collection_id))
            )
            return
        from services.common.purging import forget_schedules

        if not await self.store.delete_collection(collection_id):
            raise NotFound(f"no collection {collection_id!r}: `idsync collection list` shows them")
        await forget_schedules(self.nc, collection_id, "collection")

    async def run_collection(self, collection_id: str) -> str:
        """Ask the workflow to run a collection; the collection run's id."""
        reply = await self._ask(
            "collection-run", encode(CollectionCommand(collection_id=collection_id))
        )
        return reply.run_id or ""

    async def cancel_collection(self, run_id: str) -> None:
        await self._ask("collection-cancel", encode(DecideCommand(run_id=run_id)))

    async def save_template(self, template: Template) -> bool:
        """Store the template (through the workflow when authenticated); True if it existed."""
        if self.authenticated:
            reply = await self._ask("template-apply", msgspec.json.encode(template))
            return reply.note == "updated"
        from core.ad_templates import builtin

        if builtin(template.id) is not None:
            raise BadInput(f"template {template.id} ships with idsync: save under another id")
        existed = await self.store.find_template(template.id) is not None
        await self.store.put_template(template)
        return existed

    async def delete_template(self, template_id: str) -> None:
        if self.authenticated:
            command = TemplateDeleteCommand(template_id=template_id)
            await self._ask("template-delete", encode(command))
            return
        from core.ad_templates import builtin

        if builtin(template_id) is not None:
            raise BadInput(f"template {template_id} ships with idsync: it cannot be deleted")
        if not await self.store.delete_template(template_id):
            raise NotFound(f"no template {template_id!r}: `idsync template list` shows them")

    async def ask(self, verb: str, payload: bytes) -> CommandReply:
        """Send a command the workflow answers (roles, grants, whoami); its reply."""
        return await self._ask(verb, payload)

    async def preview(self, request: PreviewRequest) -> PreviewReply:
        """A plan from a runner (the portal's previews): the workflow is asked first, as
        `idsync job preview` asks it, whether roles allow this person a preview."""
        await self._ask("preview", b"{}")
        subject = preview_subject(self.settings.principal)
        try:
            answer = await self.nc.request(subject, encode(request), timeout=PREVIEW_WAIT)
        except nats.errors.NoRespondersError:
            raise Unreachable(
                "no runner answers previews: start one (`idsync serve runner`)"
            ) from None
        except nats.errors.TimeoutError:
            self.raise_refusal()
            raise Unreachable(
                f"no runner planned the preview within {PREVIEW_WAIT:.0f} s"
            ) from None
        reply = preview_reply_decoder.decode(answer.data)
        if not reply.ok:
            raise BadInput(reply.error or "the preview was refused")
        return reply

    async def request_run(
        self, job_id: str, keys: list[str] | None = None, changed_only: bool = False
    ) -> str:
        """Ask the workflow service to run a job; the run's id."""
        return (await self.ask_run(job_id, keys, changed_only)).run_id or ""

    async def ask_run(
        self, job_id: str, keys: list[str] | None = None, changed_only: bool = False
    ) -> CommandReply:
        """Ask the workflow service to run a job; its reply names the run and whom the
        run waits for, if anyone."""
        command = RunCommand(job_id=job_id, keys=keys, changed_only=changed_only)
        return run_reply(await self._ask("run", encode(command)))

    async def decide(self, verb: str, run_id: str, reason: str = "", plan: str = "") -> str:
        """Approve or deny (`verb`) a run that waits for approval; `plan`: only the plan of
        that hash (or hash's start). What was decided, in words (empty from a server
        that does not say)."""
        command = DecideCommand(run_id=run_id, reason=reason, plan=plan)
        reply = await self._ask(verb, encode(command))
        if reply.run_id is None:
            raise BadInput(reply.error or f"the {verb} command named no run")
        return reply.note

    async def command(self, verb: str, command: msgspec.Struct) -> str:
        """Send a command to the services; the run id its reply names."""
        return await self._command(verb, command)

    async def _command(self, verb: str, command: msgspec.Struct) -> str:
        reply = await self._ask(verb, encode(command))
        if reply.run_id is None:
            raise BadInput(reply.error or f"the {verb} command named no run")
        return reply.run_id

    async def _ask(self, verb: str, payload: bytes) -> CommandReply:
        subject = command_subject(self.settings.principal, verb)
        nobody_since = None
        while True:
            try:
                answer = await self.nc.request(subject, payload, timeout=ANSWER_WAIT)
            except nats.errors.NoRespondersError:
                nobody_since = nobody_since or time.monotonic()
                if time.monotonic() - nobody_since >= NOBODY_WAIT:
                    raise nobody_answers(verb) from None
                await asyncio.sleep(NOBODY_PAUSE)  # a workflow starting or reconnecting
                continue
            except nats.errors.TimeoutError:
                self.raise_refusal()
                raise no_answer_in_time() from None
            return reply_to(verb, answer.data)

    def raise_refusal(self) -> None:
        """If the server refused something this connection did, say so (the request
        itself only times out): a permission error names the user and the subject."""
        if (refused := refusal(self.refusals, self.user)) is not None:
            raise refused

    async def journal(self, subject: str = RUN_EVENTS) -> list[Event]:
        """Every event in the journal on `subject`, oldest first: batched direct gets,
        which need no consumer (people may create none) and leave nothing behind."""
        return await journal_events(self.nc, subject)

    @asynccontextmanager
    async def follow(self, *subjects: str) -> AsyncIterator[asyncio.Queue[Event]]:
        """Events as they are published (core subscriptions: nothing left behind)."""
        queue: asyncio.Queue[Event] = asyncio.Queue()

        async def on_message(msg: Msg) -> None:
            with suppress(msgspec.DecodeError, msgspec.ValidationError):
                queue.put_nowait(decode_event(msg.data))

        subs = [await self.nc.subscribe(subject, cb=on_message) for subject in subjects]
        await self.nc.flush()  # a refused subscription is reported now, not at the first event
        self.raise_refusal()
        try:
            yield queue
        finally:
            for sub in subs:
                with suppress(nats.errors.Error):  # a connection lost takes them anyway
                    await sub.unsubscribe()


async def open_connection(
    url: str,
    timeout: float = 3.0,
    *,
    credentials: Credentials | None = None,
    tls: ssl.SSLContext | None = None,
    refusals: list[str] | None = None,
    patient: bool = False,
) -> Client:
    """A client connection, or Unreachable within `timeout` seconds. (With
    allow_reconnect=False nats-py retries a refused first connection forever.) A person's
    replies come to an inbox of their own, the only one they may read. A `patient`
    connection, once made, reconnects for as long as its user waits (`idsync job run
    --wait` follows a run through a server's restart), and notices a silent server by
    its pings within seconds."""

    seen: list[str] = []

    async def on_error(error: Exception) -> None:
        # Reported by `open_connection` or `Session.raise_refusal`, not as tracebacks.
        seen.append(str(error).lower())
        if refusals is not None and "permissions violation" in str(error).lower():
            refusals.append(str(error).removeprefix("nats: "))

    who: dict[str, str] = {}
    if credentials is not None:
        who = {
            "user": credentials.user,
            "password": credentials.password,
            "inbox_prefix": inbox_prefix(credentials.user),
        }
    pings: dict[str, int] = {"ping_interval": 5, "max_outstanding_pings": 2} if patient else {}
    try:
        nc = await asyncio.wait_for(
            nats.connect(
                server_list(url),
                connect_timeout=timeout,
                max_reconnect_attempts=1,
                reconnect_time_wait=0.1,
                error_cb=on_error,
                tls=tls,
                **who,
                **pings,
            ),
            timeout * 2,
        )
    except (OSError, nats.errors.Error, TimeoutError) as error:
        text = str(error) or type(error).__name__
        if any("authorization" in seen_error for seen_error in [*seen, text.lower()]):
            raise Refused(
                f"NATS at {url} refused the credentials of "
                f"{credentials.user if credentials else 'an anonymous client'}: set "
                "IDSYNC_NATS_CREDENTIALS (or IDSYNC_NATS_USER and IDSYNC_NATS_PASSWORD), or "
                "ask whoever runs `idsync up` for `idsync user add YOUR-NAME`"
            ) from None
        raise Unreachable(
            f"cannot reach NATS at {url} ({text}).\n"
            "Is `idsync up` running? Or set IDSYNC_NATS_URL to a server that is."
        ) from None
    if patient:  # set once connected: a first connection that fails still fails at once
        nc.options["max_reconnect_attempts"] = -1
        nc.options["reconnect_time_wait"] = 0.5
    return nc


@asynccontextmanager
async def connect(settings: Settings, *, patient: bool = False) -> AsyncIterator[Session]:
    """A session as the person the credentials name (their principal), or anonymous;
    `patient`: one that reconnects to a server that went away (open_connection)."""
    who = credentials.for_person(settings)
    if who is not None and who.user != settings.principal:
        settings = msgspec.structs.replace(settings, principal=who.user)
    refusals: list[str] = []
    nc = await open_connection(
        settings.resolve_nats_url(),
        credentials=who,
        tls=credentials.tls_context(settings),
        refusals=refusals,
        patient=patient,
    )
    session = Session(nc, settings, refusals=refusals, user=who.user if who else None)
    try:
        yield session
    except nats.errors.TimeoutError:
        session.raise_refusal()
        raise Unreachable("NATS did not answer in time") from None
    except nats.js.errors.ServiceUnavailableError:
        raise Unreachable(
            "NATS's JetStream is not available right now (a cluster without its quorum, or "
            "electing its streams' leaders after a server came back): try again in a moment"
        ) from None
    except nats.errors.Error as error:
        raise IdsyncError(f"NATS: {error}") from None
    finally:
        await nc.close()
