"""How long the `idsync` command takes to start, next to a bare `python -c pass`.

    .venv/bin/python bench/startup.py [--runs 15]

Times, each as the median of --runs runs in a fresh process, on the same machine in the
same run:
  reference      python -c pass (the interpreter alone, with this virtualenv's site)
  --help         idsync --help (the whole command tree built, nothing run)
  client commands  idsync job list, run list, connection list, runner list,
                 deadletter list: each to its answer from an embedded nats-server whose
                 streams and buckets exist (empty: the start-up is what is timed)
and prints each one's ratio to the reference. Target: every one within 8x.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Mapping, Sequence
from pathlib import Path

import nats

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # for bench.*

from bench.targets import verdict, within
from services.common.embedded import EmbeddedNats
from services.common.jetstream import ensure_infrastructure
from services.common.settings import Settings

TARGET = 8.0
CLIENT_COMMANDS = (
    ["job", "list"],
    ["run", "list"],
    ["connection", "list"],
    ["runner", "list"],
    ["deadletter", "list"],
)


def idsync() -> list[str]:
    """The installed `idsync` script next to this interpreter, else the module."""
    script = Path(sys.executable).with_name("idsync")
    return [str(script)] if script.exists() else [sys.executable, "-m", "services.cli.main"]


def median_seconds(argv: Sequence[str], env: Mapping[str, str], runs: int) -> float:
    times = []
    for _ in range(runs):
        started = time.perf_counter()
        subprocess.run(argv, env=env, stdout=subprocess.DEVNULL, check=True)
        times.append(time.perf_counter() - started)
    return statistics.median(times)


async def create_infrastructure(url: str, settings: Settings) -> None:
    """What the services make when they start: streams and buckets, here left empty."""
    nc = await nats.connect(url)
    try:
        await ensure_infrastructure(nc.jetstream(), settings)
    finally:
        await nc.close()


def main(runs: int) -> None:
    folder = Path(tempfile.mkdtemp(prefix="idsync-startup-"))
    server = EmbeddedNats(folder / "nats")
    url = server.start()
    try:
        settings = Settings(home=folder / "home", nats_url=url, principal="bench")
        asyncio.run(create_infrastructure(url, settings))
        env = {**os.environ, "IDSYNC_NATS_URL": url, "IDSYNC_HOME": str(settings.home)}
        bare = median_seconds([sys.executable, "-c", "pass"], env, runs)
        timed = [("--help", median_seconds([*idsync(), "--help"], env, runs))]
        for command in CLIENT_COMMANDS:
            timed.append((" ".join(command), median_seconds([*idsync(), *command], env, runs)))
    finally:
        server.stop()
    print(f"start-up, median of {runs} runs (target: within {TARGET:g}x of python -c pass)")
    print(f"  python -c pass          {bare * 1000:6.0f} ms")
    for name, seconds in timed:
        ratio = seconds / bare
        met = "met" if ratio <= TARGET else "NOT met"
        print(f"  idsync {name:<16} {seconds * 1000:6.0f} ms  {ratio:5.1f}x  {met}")
    slowest, seconds = max(timed[1:], key=lambda each: each[1])
    for what, taken in (
        ("`idsync --help` start-up", timed[0][1]),
        (f"`idsync {slowest}`", seconds),
    ):
        verdict(
            within(
                "startup.py", what, taken * 1000, "python -c pass", bare * 1000, TARGET, unit="ms"
            )
        )


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--runs", type=int, default=15, help="runs of each (default 15)")
    main(parser.parse_args().runs)
