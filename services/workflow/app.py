"""The workflow service: answers commands and gates every run request.

Commands come on `idsync.cmd.<principal>.<verb>`; the server lets each user publish
only under their own principal, so the principal in the subject is who asks. Every
run request, whatever asked for it, first takes its job's claim, or waits for the run
of the job going on (claims.py: one run of a job at a time). A request that the job's
approval policy covers waits (`run.awaiting-approval`) for one
of its approvers (decisions.py); any other is approved at once. Requests from other
systems are merged in bursts (bursts.py); waits nobody answers expire (approvals.py).
Dead letters are retried and dropped here (deadletters.py): publishing an approval
again and deleting a stream's messages are the workflow's alone. A run's request is one
message: a burst takes a system's requests only as long as their keys fit (`keys_room`).
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime

import msgspec
from faststream.nats import NatsBroker

from core.checks.incremental import changed_only_refusal
from core.errors import StoreFull
from schemas.commands import (
    CommandReply,
    encode,
    keys_size,
    run_command_decoder,
)
from schemas.event_ids import requested_id
from schemas.events import (
    CollectionRequested,
    Event,
    RunAwaitingApproval,
    RunRequested,
    Trigger,
)
from schemas.ids import is_slug, new_run_id, utcnow
from schemas.jobs import Job
from schemas.subjects import command_subject
from services.common.bus import Bus
from services.common.consumers import Delivered, subscribe_durable
from services.common.delivery import deliberately
from services.common.host import Background
from services.common.jetstream import COLLECTIONS, STEPS, WAITS, WORKFLOW
from services.common.logging import get_logger
from services.common.loops import idle
from services.common.users import Users
from services.common.users import load as load_users
from services.providers import FACTS

from . import claims, collections, gate, guard, roles, templates
from .approvals import Expiry, record
from .bursts import Burst, Bursts
from .census import count_runners
from .claims import gate_request
from .deadletters import answer_dead_letter
from .decisions import cancel, decide_waiting_run
from .definitions import apply_connections, apply_job, delete_job

log = get_logger("idsync.workflow")
QUEUE = "idsync-workflow"  # several workflows share the commands: each is answered once
Handler = Callable[[Bus, str, bytes], Awaitable[CommandReply]]


def register(broker: NatsBroker, bus: Bus) -> list[Background]:
    bursts = Bursts(bus.settings.merge_window)

    async def run_command(bus: Bus, principal: str, body: bytes) -> CommandReply:
        return await accept_run_command(bus, principal, body, bursts)

    handlers: dict[str, Handler] = {
        "run": run_command,
        "approve": lambda bus, who, body: decide_waiting_run(bus, who, "approve", body),
        "deny": lambda bus, who, body: decide_waiting_run(bus, who, "deny", body),
        "cancel": cancel,
        "job-apply": apply_job,
        "job-delete": delete_job,
        "connection-apply": apply_connections,
        "deadletter": answer_dead_letter,
        "collection-apply": collections.apply_collection,
        "collection-delete": collections.delete_collection,
        "collection-run": collections.run_collection,
        "collection-cancel": collections.cancel_collection,
        "template-apply": templates.apply_template,
        "template-delete": templates.delete_template,
        "role-apply": roles.apply_role,
        "role-remove": roles.remove_role,
        "grant": roles.grant,
        "revoke": roles.revoke,
        "whoami": roles.whoami,
        "refusals": roles.refusals,
        "preview": roles.may_preview,
    }
    for verb, handler in handlers.items():
        _answer(broker, bus, verb, handler)

    async def on_requested(event: Event, attempt: int) -> None:
        if isinstance(event, RunRequested):
            await gate_request(bus, event)

    async def on_waiting(event: Event, attempt: int) -> None:
        if isinstance(event, RunAwaitingApproval):
            await record(bus, event)

    subscribe_durable(
        bus, WORKFLOW, deliberately(bus, on_requested), batch_size=16, title="run requests"
    )
    subscribe_durable(
        bus, WAITS, deliberately(bus, on_waiting), batch_size=16, title="approval waits"
    )

    async def on_collection(event: Event, attempt: int) -> None:
        if isinstance(event, CollectionRequested):
            await collections.on_requested(bus, event)

    async def on_run_event(event: Event, attempt: int) -> None:
        await claims.on_run_event(bus, event)  # a run's end lets the next run of its job go
        await collections.on_run_event(bus, event)

    subscribe_durable(
        bus, COLLECTIONS, deliberately(bus, on_collection), batch_size=4, title="collections"
    )
    # Every run event comes by (most are no run's end: acknowledged at once); one
    # collection's steps end one after the other, and each is a compare-and-set anyway.
    # The one place the workflow sees runs end: their jobs' claims (claims.py), and
    # collections' steps.
    subscribe_durable(bus, STEPS, deliberately(bus, on_run_event), batch_size=4, title="steps")

    async def send(due: list[Burst]) -> None:
        for burst in due:
            request = RunRequested(
                run_id=burst.run_id,
                job_id=burst.job_id,
                id=requested_id(burst.run_id),
                requested_by=burst.requested_by,
                trigger="external",
                keys=burst.keys,
                changed_only=burst.changed_only,
            )
            try:
                await bus.publish(request)
            except Exception as error:  # the server is away or the journal full: retry
                log.warning("merged request not sent", run_id=burst.run_id, error=str(error))
                break
            bursts.sent(burst)
            log.info("external requests merged", run_id=burst.run_id, requests=burst.requests)

    async def send_bursts() -> None:
        tick = min(0.2, bus.settings.merge_window / 4)
        try:
            while True:
                await idle(tick)
                await send(bursts.due(utcnow()))
        except asyncio.CancelledError:
            # The workflow stops (a restart, an upgrade): the requests it accepted and still
            # holds in memory go now, their windows cut short — else their senders would
            # hold run ids no event ever names.
            if bursts.open:
                await send(bursts.due(datetime.max.replace(tzinfo=UTC)))
            raise

    async def expire() -> None:
        expiry = Expiry(bus)
        while True:
            await idle(bus.settings.approval_check)
            try:
                await expiry.expire_due()
            except Exception as error:  # a passing NATS error: check again next time
                log.warning("approval expiry check failed", error=str(error))

    async def check() -> None:
        while True:
            await idle(bus.settings.approval_check)
            try:
                await claims.check_claims(bus)
            except Exception as error:  # a passing NATS error: check again next time
                log.warning("claims check failed", error=str(error))

    return [send_bursts, expire, check, lambda: count_runners(bus)]


def _answer(broker: NatsBroker, bus: Bus, verb: str, handler: Handler) -> None:
    @broker.subscriber(command_subject("*", verb), queue=QUEUE, title=f"{verb} commands")
    async def on_command(msg: Delivered) -> bytes:
        raw = msg.raw_message
        principal = raw.subject.split(".")[2]
        # A command is a request: its answer goes to the sender's inbox. Anything else on
        # a command subject (a message some consumer delivered there) is not a command.
        if not (raw.reply or "").startswith("_INBOX"):
            log.warning("not a request; ignored", subject=raw.subject, reply=raw.reply)
            return encode(CommandReply(ok=False, error="commands are requests"))
        try:
            refused = await guard.refusal(bus, verb, principal, msg.body)
            if refused is not None:
                log.warning("command refused", verb=verb, by=principal, why=refused)
                return encode(CommandReply(ok=False, error=refused, denied=True))
            reply = await handler(bus, principal, msg.body)
        except StoreFull as error:
            reply = CommandReply(ok=False, error=str(error), retry=True)
        return encode(reply)


async def accept_run_command(
    bus: Bus, principal: str, body: bytes, bursts: Bursts | None = None
) -> CommandReply:
    """Check the command, give the run its id and publish the request (a system's
    request joins the burst of its job, published when the burst's window closes)."""
    try:
        command = run_command_decoder.decode(body)
    except (msgspec.DecodeError, msgspec.ValidationError) as error:
        return CommandReply(
            ok=False, error=f'not a run command ({error}); expected {{"job_id": …, "keys": […]}}'
        )
    if not is_slug(principal):
        return CommandReply(ok=False, error=f"{principal!r} is not a valid principal")
    job = await bus.store.find_job(command.job_id)
    if job is None:
        return CommandReply(ok=False, error=f"no job {command.job_id!r}")
    if not job.enabled:
        return CommandReply(
            ok=False,
            error=(
                f"job {command.job_id!r} is disabled: `idsync job enable {command.job_id}` "
                "lets it run"
            ),
        )
    room = keys_room(bus)
    if (size := keys_size(command.keys)) > room:
        # Its run's request could never be published (nor its approval, nor its state):
        # accepted, it would wait for ever, and a system's would hold back every later one.
        return CommandReply(
            ok=False,
            error=f"{len(command.keys or [])} keys are too many for one run request ({size} "
            f"bytes; at most {room}): ask for them in several requests",
        )
    if command.changed_only:
        source = {c.id: c for c in await bus.store.connections()}.get(job.source.connection)
        if refused := changed_only_refusal(job, source, FACTS):
            return CommandReply(ok=False, error=refused)
    known = load_users(bus.settings.home)
    person = known.people.get(principal)
    if bursts is not None and person is not None and person.system:
        run_id = bursts.add(
            job.id, principal, command.keys, utcnow(), command.changed_only, room=room
        )
        waits_for = _waits_for(job, known, "external", principal)
        return CommandReply(ok=True, run_id=run_id, waits_for=waits_for)
    run_id = new_run_id()
    await bus.publish(
        RunRequested(
            run_id=run_id,
            job_id=job.id,
            id=requested_id(run_id),
            requested_by=principal,
            keys=command.keys,
            changed_only=command.changed_only,
        )
    )
    log.info("run requested", job_id=job.id, run_id=run_id, by=principal)
    return CommandReply(
        ok=True, run_id=run_id, waits_for=_waits_for(job, known, "manual", principal)
    )


REQUEST_MARGIN = 65_536
"""Bytes of a message kept for what a run's request (and each event or state that copies
its keys: its wait, its approval, its state) holds besides its keys."""


def keys_room(bus: Bus) -> int:
    """The most bytes a burst's keys may take: its run's request must be one message (the
    server's max payload), and so must every event and state that copies them."""
    return int(bus.broker.connection.max_payload) - REQUEST_MARGIN


def _waits_for(job: Job, known: Users, trigger: Trigger, requester: str) -> list[str] | None:
    """Whom a request will wait for (`gate_request` makes it wait): said in the reply,
    so that the command tells its requester at once — never the requester themselves."""
    if not gate.needs_approval(job, trigger):
        return None
    return gate.approvers_of(job, known, requester)
