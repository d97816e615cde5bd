"""`idsync runner list`: which runners are alive, what they work on, who went silent."""

from __future__ import annotations

import argparse

import msgspec

from schemas.ids import utcnow
from services.common.runners import runners

from .client import connect
from .output import print_json, print_table


async def runner_list(args: argparse.Namespace) -> int:
    """The runners that said they are alive, what they work on, and who went silent."""
    async with connect(args.settings) as session:
        found = await runners(session.js)
    now = utcnow()
    if args.json:
        print_json([{**msgspec.structs.asdict(r), "silent_for": r.silent_for(now)} for r in found])
        return 0
    if not found:
        print("no runner has reported: start one with `idsync up` or `idsync serve runner`")
        return 0
    rows = []
    for runner in found:
        silent = runner.silent_for(now)
        state = f"SILENT for {silent:.0f}s" if silent else "alive"
        rows.append(
            (
                runner.runner_id,
                f"{runner.host}:{runner.pid}",
                state,
                f"{(now - runner.heartbeat_at).total_seconds():.0f}s ago",
                "; ".join(runner.working) or "idle",
            )
        )
    print_table(rows, ("RUNNER", "WHERE", "STATE", "HEARTBEAT", "WORKING ON"))
    if any(r.silent_for(now) for r in found):
        print(
            "\nA silent runner's unacknowledged work goes back to the queue after the ack "
            "wait (IDSYNC_ACK_WAIT) and another runner takes it."
        )
    return 0
