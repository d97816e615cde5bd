"""`idsync deadletter …` (what was given up on, brought back or let go) and
`idsync runner list` (who is alive and working)."""

from __future__ import annotations

import argparse

import msgspec

from schemas.commands import DeadLetterCommand
from schemas.ids import utcnow
from services.common.deadletters import dead_letters
from services.common.errors import BadInput
from services.runner.health import runners

from .client import connect
from .output import print_json, print_table


async def deadletter_list(args: argparse.Namespace) -> int:
    async with connect(args.settings) as session:
        letters = await dead_letters(session.js)
    if args.json:
        print_json(letters)
        return 0
    if not letters:
        print("no dead letters")
        return 0
    rows = [
        (
            str(letter.seq),
            f"{letter.at:%Y-%m-%d %H:%M:%S}",
            letter.job_id or "-",
            letter.run_id or "-",
            letter.what or "(gone)",
            letter.reason,
            str(letter.deliveries),
        )
        for letter in letters
    ]
    print_table(rows, ("SEQ", "WHEN", "JOB", "RUN", "WHAT", "WHY", "DELIVERIES"))
    print("\n`idsync deadletter retry SEQ` delivers one again; `… drop SEQ` abandons it")
    return 0


async def deadletter_act(args: argparse.Namespace) -> int:
    """retry or drop, one letter or (retry --all) every one."""
    async with connect(args.settings) as session:
        seqs = (
            [letter.seq for letter in await dead_letters(session.js) if letter.present]
            if args.seq == "all"
            else [_seq(args.seq)]
        )
        for seq in seqs:
            run_id = await session.command(
                "deadletter", DeadLetterCommand(action=args.verb, seq=seq)
            )
            done = "delivered again" if args.verb == "retry" else "dropped"
            print(f"dead letter {seq} {done} (run {run_id})")
    if not seqs:
        print("no dead letters to retry")
    return 0


def _seq(text: str) -> int:
    if not text.isdigit():
        raise BadInput(f"{text!r} is not a dead letter number: `idsync deadletter list`")
    return int(text)


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
