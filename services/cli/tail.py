"""`idsync tail`: the journal's events as they happen."""

from __future__ import annotations

import argparse
import asyncio
import sys

from schemas.subjects import JOURNAL_SUBJECTS, job_events, schedule_events

from .client import connect
from .output import event_line


async def tail(args: argparse.Namespace) -> int:
    # The journal's families, not idsync.>: that would take in other people's commands.
    subjects = [job_events(args.job), schedule_events(args.job)] if args.job else JOURNAL_SUBJECTS
    async with connect(args.settings) as session, session.follow(*subjects) as queue:
        if not args.json:
            print(f"following {', '.join(subjects)} (Ctrl-C to stop)", file=sys.stderr)
        try:
            while True:
                event = await queue.get()
                if args.json:
                    sys.stdout.write(session_json(event) + "\n")
                else:
                    print(event_line(event))
                sys.stdout.flush()
        except asyncio.CancelledError:
            return 0


def session_json(event: object) -> str:
    import msgspec

    return msgspec.json.encode(event).decode()
