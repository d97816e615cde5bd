"""A first run of many creates: the runner's peak memory, and how it grows with the size.

    .venv/bin/python bench/first_run_memory.py [--people 1000000]

Writes a CSV of made-up people (services/common/people.py) and runs the job copying it
into a new SQLite table (every record created) through an embedded nats-server and the
services — the workflow and the runner each in a process of its own —, once at the size
asked and once at a tenth of it, each time with a new server and new services. Prints
each run's time and the runner process's peak resident memory (VmHWM), and what the
runner holds per record: the difference of the two peaks over the difference of the
sizes. Target: under 500 MB at 1,000,000 creates, flat with the size.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import shutil
import signal
import subprocess
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # for bench.*

from bench.csv_to_sqlite import CONNECTIONS, JOB, peak_rss_mib
from bench.ldap import define, timed_run
from bench.targets import below, verdict
from services.common.embedded import EmbeddedNats
from services.common.people import people, write_csv
from services.common.settings import Settings


def serve(env: dict[str, str], service: str) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [sys.executable, "-m", "services.cli.main", "serve", service],
        env=env,
        stderr=subprocess.DEVNULL,
    )


async def first_run(count: int) -> tuple[float, float]:
    """The run's seconds and the runner's peak memory (MiB), for `count` creates."""
    folder = Path(tempfile.mkdtemp(prefix="idsync-bench-first-"))
    nats = EmbeddedNats(folder / "nats")
    processes: list[subprocess.Popen[bytes]] = []
    try:
        write_csv(folder / "people.csv", people(count))
        (folder / "connections.toml").write_text(CONNECTIONS)
        url = nats.start()
        settings = Settings(home=folder / "home", nats_url=url, principal="bench")
        env = {
            **os.environ,
            "IDSYNC_NATS_URL": url,
            "IDSYNC_HOME": str(settings.home),
            "IDSYNC_WORK_MAX_BYTES": str(4 << 30),
        }
        processes = [serve(env, "workflow"), serve(env, "runner")]
        await define(settings, folder, {"bench": JOB})
        await asyncio.sleep(1.0)  # the services' start-up is not counted
        seconds, end = await timed_run(settings, "bench")
        peak = peak_rss_mib(processes[1].pid)
    finally:
        for process in processes:
            process.send_signal(signal.SIGTERM)
            process.wait(30)
        nats.stop()
        shutil.rmtree(folder, ignore_errors=True)
    assert end.stats.created == count, end.stats
    return seconds, peak


async def main(count: int) -> None:
    small = count // 10
    results = {n: await first_run(n) for n in (small, count)}
    print("CSV → SQLite, first run (every record created), runner in its own process")
    for n, (seconds, peak) in results.items():
        print(f"  {n:>9,} creates: {seconds:6.1f} s  runner's peak memory {peak:6.0f} MiB")
    grown = (results[count][1] - results[small][1]) * (1 << 20) / (count - small)
    met = "met" if results[count][1] < 500 else "NOT met"
    print(f"  per record beyond the first {small:,}: {grown:,.0f} bytes")
    print(f"  at {count:,}: {results[count][1]:.0f} MiB (target < 500 MB at 1,000,000: {met})")
    what = f"the runner's peak memory, a first run of {count:,}"
    verdict(below("first_run_memory.py", what, results[count][1], 500, "MiB"))


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--people", type=int, default=1_000_000)
    asyncio.run(main(parser.parse_args().people))
