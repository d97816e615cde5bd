"""What roles cost a command: the workflow's answer to a run command, next to a key-value
get on the same server, with no role granted and with roles in force.

    .venv/bin/python bench/commands.py [--commands 300]

An embedded nats-server and the workflow in this process; each figure is the median of
--commands round trips, in the same run:
  reference       a get from the jobs bucket (one request the server answers itself)
  no roles        `run` of a job that does not exist: the guard reads the roles bucket,
                  finds nothing granted and lets the handler refuse it
  roles in force  the same with the five built-in roles granted (the guard reads them
                  all, the asker's groups and whether the command is theirs to send)
and prints each one's ratio to the reference. Target: roles in force within 2x of no roles.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import tempfile
import time
from collections.abc import Awaitable, Callable
from pathlib import Path

from core.errors import BadInput
from schemas.commands import RunCommand, encode
from schemas.roles import GrantCommand
from services.cli.client import Session, connect
from services.common.embedded import EmbeddedNats
from services.common.host import run_services
from services.common.settings import Settings

TARGET = 2.0


async def median_ms(times: int, once: Callable[[], Awaitable[object]]) -> float:
    taken = []
    for _ in range(times):
        started = time.perf_counter()
        await once()
        taken.append(time.perf_counter() - started)
    return statistics.median(taken) * 1000


async def refused_run(session: Session) -> None:
    try:
        await session.ask("run", encode(RunCommand(job_id="no-such-job")))
    except BadInput as error:
        assert "no job" in str(error), error
        return
    raise AssertionError("a run of a job that does not exist was accepted")


async def measure(commands: int) -> dict[str, float]:
    folder = Path(tempfile.mkdtemp(prefix="idsync-bench-commands-"))
    server = EmbeddedNats(folder / "nats")
    server.start()
    try:
        settings = Settings(home=folder / "home", nats_url=server.url, principal="ada")
        stop, ready = asyncio.Event(), asyncio.Event()
        task = asyncio.create_task(run_services(("workflow",), settings, server.url, stop, ready))
        await asyncio.wait_for(ready.wait(), 30)
        try:
            async with connect(settings) as session:
                found = {
                    "reference": await median_ms(
                        commands, lambda: session.store.find_job("no-such-job")
                    ),
                    "no roles": await median_ms(commands, lambda: refused_run(session)),
                }
                for role, who in (
                    ("administrator", "ada"),
                    ("job-author", "bob"),
                    ("operator", "bob"),
                    ("approver", "bob"),
                    ("auditor", "bob"),
                ):
                    await session.ask("grant", encode(GrantCommand(role_id=role, grantee=who)))
                found["roles in force"] = await median_ms(commands, lambda: refused_run(session))
        finally:
            stop.set()
            await task
    finally:
        server.stop()
    return found


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--commands", type=int, default=300)
    args = parser.parse_args()
    found = asyncio.run(measure(args.commands))
    reference = found["reference"]
    for name, ms in found.items():
        print(f"{name:<16} {ms:7.3f} ms  {ms / reference:5.1f}x the reference")
    ratio = found["roles in force"] / found["no roles"]
    verdict = "ok" if ratio <= TARGET else "over"
    print(f"roles in force / no roles: {ratio:.2f} (target {TARGET:g}: {verdict})")


if __name__ == "__main__":
    main()
