"""`idsync tail`: the journal's events as they happen."""

from __future__ import annotations

import argparse
import asyncio
import sys

from core.errors import BadInput
from schemas.ids import is_slug
from schemas.subjects import JOURNAL_SUBJECTS, job_events, schedule_events
from services.common.loops import stop_if_asked

from .client import connect
from .output import event_line

TICK = 0.5
"""Seconds between looks at the connection while no event comes."""


async def tail(args: argparse.Namespace) -> int:
    """Follow the journal until Ctrl-C; a server that goes away is waited for, said on
    stderr, and followed again when it is back (what it published meanwhile is in the
    journal: `idsync run list`, `idsync run show RUN`)."""
    if args.job is not None and not is_slug(args.job):
        raise BadInput(
            f"no job {args.job!r}: a job id is a slug (a-z, 0-9, - and _): `idsync job list` "
            "shows them"
        )
    # The journal's families, not idsync.>: that would take in other people's commands.
    subjects = [job_events(args.job), schedule_events(args.job)] if args.job else JOURNAL_SUBJECTS
    async with (
        connect(args.settings, patient=True) as session,
        session.follow(*subjects) as queue,
    ):
        # Said once the server has the subscriptions (with --json too: JSON goes to
        # stdout), so that whoever starts a run after this line misses none of its events.
        print(f"following {', '.join(subjects)} (Ctrl-C to stop)", file=sys.stderr, flush=True)
        connected = True
        try:
            while True:
                stop_if_asked()  # a Ctrl-C that came with an event
                try:
                    event = await asyncio.wait_for(queue.get(), TICK)
                except TimeoutError:
                    if connected != session.nc.is_connected:
                        connected = session.nc.is_connected
                        print(_connection_note(connected), file=sys.stderr, flush=True)
                    continue
                if args.json:
                    sys.stdout.write(session_json(event) + "\n")
                else:
                    print(event_line(event))
                sys.stdout.flush()
        except asyncio.CancelledError:
            return 0


def _connection_note(connected: bool) -> str:
    if connected:
        return (
            "the NATS server is back: following again (events published while it was away "
            "are in the journal: `idsync run list`)"
        )
    return "lost the NATS server: waiting for it to come back (Ctrl-C to stop)"


def session_json(event: object) -> str:
    import msgspec

    return msgspec.json.encode(event).decode()
