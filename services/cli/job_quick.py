"""`idsync job run` on a quick connection: one changed record asked for and waited for
takes the services a few tens of milliseconds, and the command should not take ten
times that to start (docs/performance.md). This path imports neither asyncio nor
nats-py: a synchronous client (services/common/quick_nats.py) subscribes to the job's
events, asks for the run and follows it — the same request, the same events, the same
words and exit codes as services/cli/job.py `job_run`.

What it does not do, the usual path does: it is not taken for a connection the quick
client cannot make (TLS, a server asking for credentials none were given for, one it
cannot reach — nats-py then says why) nor for a refused subscription (nats-py then
reports the refusal). Once the run is asked for, a run still going after QUIET_CHECK
seconds of silence, or a server gone away, is handed to the usual following
(watch.py `resume`): the journal, reconnection, IDSYNC_WAIT_RECONNECT."""

from __future__ import annotations

import argparse
import os
import time
from contextlib import suppress

import msgspec

from schemas.commands import CommandReply, RunCommand, encode
from schemas.events import Event, decode_event
from schemas.subjects import command_subject, job_events
from services.common import credentials
from services.common.asking import (
    ANSWER_WAIT,
    NOBODY_PAUSE,
    NOBODY_WAIT,
    no_answer_in_time,
    nobody_answers,
    refusal,
    reply_to,
    run_reply,
)
from services.common.quick_nats import NO_RESPONDERS, Lost, QuickNats
from services.common.settings import server_list

from .ends import QUIET_CHECK, TICK, Followed, print_asked, print_end
from .output import Progress

CONNECT_WAIT = 3.0
"""Seconds to connect, as services/common/client.py `open_connection` allows."""


def job_run_quick(args: argparse.Namespace) -> int | None:
    """The command's exit code, or None when this path cannot be taken (nothing was
    asked yet): the usual one then does it all."""
    settings = args.settings
    if settings.nats_ca_file is not None or not _plain(args.id):
        return None
    who = credentials.for_person(settings)
    principal = who.user if who is not None else settings.principal
    servers = server_list(settings.resolve_nats_url())
    if not servers:
        return None
    client = QuickNats.open(
        servers[os.urandom(1)[0] % len(servers)],  # as nats-py picks from a cluster's
        user=who.user if who else None,
        password=who.password if who else None,
        inbox_prefix=credentials.inbox_prefix(who.user) if who else "_INBOX",
        timeout=CONNECT_WAIT,
    )
    if client is None:
        return None
    with client:
        try:
            events = client.subscribe(job_events(args.id)) if args.wait else 0
            replies = client.subscribe(f"{client.inbox}.*")
            client.ping(time.monotonic() + CONNECT_WAIT)
        except Lost:
            return None
        if client.refusals:  # nats-py says it, as it says it
            return None
        command = RunCommand(job_id=args.id, keys=args.key, changed_only=args.changed_only)
        subject = command_subject(principal, "run")
        user = who.user if who is not None else None  # None: anonymous, as refusals say
        reply, early = _ask(client, subject, encode(command), replies, events, user)
        run_id = str(reply.run_id)
        if not args.wait:
            return print_asked(args.id, reply, as_json=args.json)
        progress = None if args.json else Progress()
        followed = Followed(run_id, progress)
        for event in early:
            if followed.take(event):
                return print_end(run_id, event, as_json=args.json, followed=followed)
        looked = time.monotonic()
        away_since: float | None = None
        while True:
            try:
                message = client.next(TICK)
            except Lost:
                away_since = time.monotonic()
                break
            if message is None:
                if time.monotonic() - looked >= QUIET_CHECK:
                    break  # the journal is asked: the usual following
                continue
            news = _event(message.data) if message.sid == events else None
            if news is not None and followed.take(news):
                return print_end(run_id, news, as_json=args.json, followed=followed)
    return _resume(args, followed, away_since)


def _resume(args: argparse.Namespace, followed: Followed, away_since: float | None) -> int:
    from .loop import run_in_loop
    from .watch import resume

    end = run_in_loop(args.noun, lambda: resume(args.settings, args.id, followed, away_since))
    return print_end(followed.run_id, end, as_json=args.json, followed=followed)


def _ask(
    client: QuickNats, subject: str, command: bytes, replies: int, events: int, user: str | None
) -> tuple[CommandReply, list[Event]]:
    """The workflow's reply to the run command (or the error it says), and the job's
    events that came before it. A connection lost meanwhile is a command unanswered:
    asking again could run the job twice."""
    early: list[Event] = []
    deadline = time.monotonic() + ANSWER_WAIT
    nobody_since = None
    try:
        client.publish(subject, command, f"{client.inbox}.1")
    except Lost:
        deadline = 0.0
    while (remaining := deadline - time.monotonic()) > 0:
        try:
            message = client.next(remaining)
        except Lost:
            break
        if message is None:
            continue
        if message.sid == replies:
            if message.headers.startswith(NO_RESPONDERS):
                nobody_since = nobody_since or time.monotonic()
                if time.monotonic() - nobody_since >= NOBODY_WAIT:
                    raise nobody_answers("run")
                time.sleep(NOBODY_PAUSE)  # a workflow starting or reconnecting: ask again
                try:
                    client.publish(subject, command, f"{client.inbox}.1")
                except Lost:
                    break
                continue
            return run_reply(reply_to("run", message.data)), early
        if message.sid == events and (event := _event(message.data)) is not None:
            early.append(event)
    if (refused := refusal(client.refusals, user)) is not None:
        raise refused
    raise no_answer_in_time()


def _event(data: bytes) -> Event | None:
    with suppress(msgspec.DecodeError, msgspec.ValidationError):
        return decode_event(data)
    return None


def _plain(subject_token: str) -> bool:
    """A job id that is one token of a subject, as the services name jobs (anything
    else: nats-py, and the error it gives)."""
    return bool(subject_token) and not any(c in subject_token for c in " \t\r\n.*>")
