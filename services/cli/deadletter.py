"""`idsync deadletter list|retry|drop`: what was given up on, brought back or let go
(the workflow carries out retry and drop)."""

from __future__ import annotations

import argparse

from core.errors import BadInput
from schemas.commands import DeadLetterCommand
from services.common.deadletters import dead_letters

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
