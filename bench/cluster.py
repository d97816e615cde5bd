"""A run on a three-node NATS cluster next to the same run on one server, and what
killing the work stream's leader mid-run adds.

    .venv/bin/python bench/cluster.py [--people 100000]

Generates a CSV of made-up people and, on the same machine in the same run:
  one server     an embedded nats-server, the services (`idsync serve workflow runner`,
                 in their own process, start-up not counted) with IDSYNC_REPLICAS=1:
                 the first run of CSV → SQLite (every row created) is the reference
  cluster        three nats-servers on loopback (tests/nats_cluster.py), every stream,
                 consumer and bucket with three copies (IDSYNC_REPLICAS=3), the services
                 given the three URLs: the same first run, as a ratio to the reference
  leader killed  on the cluster, the same run into a fresh table; half-way through the
                 clean cluster run's time, the node leading the work stream is killed
                 (SIGKILL): the seconds it adds to the clean cluster run
Each run is checked: every row created once.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import signal
import sqlite3
import subprocess
import sys
import tempfile
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

from bench.csv_to_sqlite import CONNECTIONS, JOB, line, put_job
from schemas.events import RunFinished
from services.cli.client import connect
from services.cli.watch import follow_run
from services.common.embedded import EmbeddedNats
from services.common.jetstream import WORK
from services.common.people import people, write_csv
from services.common.settings import Settings
from tests.nats_cluster import NatsCluster


@asynccontextmanager
async def services(folder: Path, url: str, replicas: int) -> AsyncIterator[Settings]:
    """The workflow and a runner in a process of their own, the job defined."""
    settings = Settings(home=folder / "home", nats_url=url, principal="bench")
    env = {
        **os.environ,
        "IDSYNC_NATS_URL": url,
        "IDSYNC_HOME": str(settings.home),
        "IDSYNC_REPLICAS": str(replicas),
    }
    process = subprocess.Popen(
        [sys.executable, "-m", "services.cli.main", "serve", "workflow", "runner"],
        env=env,
        stderr=subprocess.DEVNULL,
    )
    try:
        await put_job(settings, folder)
        await asyncio.sleep(1.0)  # the services' start-up is not counted
        yield settings
    finally:
        process.send_signal(signal.SIGTERM)
        process.wait(30)


def fresh_destination(folder: Path) -> None:
    for suffix in ("", "-wal", "-shm"):
        (folder / f"idsync.db{suffix}").unlink(missing_ok=True)


def created_once(folder: Path, count: int) -> None:
    with sqlite3.connect(folder / "idsync.db") as conn:
        (rows,) = conn.execute("SELECT count(DISTINCT employee_id) FROM people").fetchone()
        (total,) = conn.execute("SELECT count(*) FROM people").fetchone()
    assert rows == total == count, f"{total} rows for {rows} people, {count} expected"


async def timed_run(settings: Settings, count: int) -> float:
    async with connect(settings, patient=True) as session:
        started = time.perf_counter()
        _, end = await follow_run(session, "bench", None)
    assert isinstance(end, RunFinished) and end.stats.created == count, end
    return time.perf_counter() - started


async def killed_run(settings: Settings, cluster: NatsCluster, count: int, after: float) -> float:
    """The run, its work stream's leader killed `after` seconds in; the session follows
    from another node."""
    leader = await cluster.leader_of(WORK)
    other = next(node for node in cluster.nodes if node is not leader)
    follower = Settings(home=settings.home, nats_url=other.url, principal="bench")

    started = time.perf_counter()

    async def kill_later() -> float:
        await asyncio.sleep(after)
        leader.kill()
        return time.perf_counter() - started

    killer = asyncio.create_task(kill_later())
    try:
        seconds = await timed_run(follower, count)
    finally:
        killed_at = await killer
    assert killed_at < seconds, f"the run ended before the leader was killed ({seconds:.1f} s)"
    return seconds


async def main(count: int) -> None:
    folder = Path(tempfile.mkdtemp(prefix="idsync-bench-cluster-"))
    write_csv(folder / "people.csv", people(count))
    (folder / "connections.toml").write_text(CONNECTIONS)
    (folder / "job.toml").write_text(JOB)

    server = EmbeddedNats(folder / "nats")
    try:
        async with services(folder, server.start(), replicas=1) as settings:
            single = await timed_run(settings, count)
        created_once(folder, count)
    finally:
        server.stop()

    fresh_destination(folder)
    cluster = NatsCluster(folder / "cluster").start()
    try:
        async with services(folder, cluster.url, replicas=3) as settings:
            clustered = await timed_run(settings, count)
            created_once(folder, count)
            fresh_destination(folder)
            killed = await killed_run(settings, cluster, count, after=clustered / 2)
            created_once(folder, count)
    finally:
        cluster.stop()

    print(f"people: {count:,}   (files in {folder})")
    line("reference: one server", single, count)
    line("three-node cluster, 3 replicas", clustered, count)
    print(f"{'':40} = {clustered / single:.2f}x one server")
    line("cluster, work leader killed mid-run", killed, count)
    print(f"{'':40} = {killed - clustered:+.1f} s to the clean cluster run")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--people", type=int, default=100_000, help="how many (default 100,000)")
    asyncio.run(main(parser.parse_args().people))
