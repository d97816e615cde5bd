"""The same run with 1, 2 and 4 runners against a destination that takes a fixed time
per write (bench/latency_sink.py), each runner with the same number of batches in flight.

    .venv/bin/python bench/scale_out.py [--records 100000] [--latency-ms 5] [--in-flight 8]

Prints, for each number of runners, the whole run (request → finished) and its apply
phase (planned → finished), and the speed-up over one runner.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from schemas.events import RunFinished, RunPlanned, is_end
from schemas.subjects import job_events
from services.cli.client import Session, connect
from services.common.definitions import load_connections, load_job
from services.common.embedded import EmbeddedNats
from services.common.host import run_services
from services.common.jetstream import WORK, WORKER
from services.common.logging import configure_logging
from services.common.people import people, write_csv
from services.common.settings import Settings

ROOT = Path(__file__).resolve().parents[1]
CONNECTIONS = """\
[files]
provider = "csv"
directory = "."
delimiter = ";"
[remote]
provider = "plugin"
factory = "bench.latency_sink:LatencySink"
options = {{ latency_ms = {latency} }}
"""
JOB = """\
id = "scale"
source = { connection = "files", file = "people.csv" }
destination = { connection = "remote" }
batch_size = 100
safety = { max_percent = 100 }
[[objects]]
keys = ["employee_id"]
"""


async def wait_ready(session: Session, runners: int) -> None:
    while (await session.js.consumer_info(WORK, WORKER.name)).num_waiting < runners:
        await asyncio.sleep(0.1)


async def one_round(folder: Path, url: str, runners: int, in_flight: int) -> tuple[float, float]:
    settings = Settings(home=folder / "home", nats_url=url, principal="bench")
    env = {
        **os.environ,
        "IDSYNC_NATS_URL": url,
        "PYTHONPATH": str(ROOT),
        "IDSYNC_RUNNER_CONCURRENCY": str(in_flight),
    }
    processes = [
        subprocess.Popen(
            [sys.executable, "-m", "services.cli.main", "serve", "runner"],
            env={**env, "IDSYNC_RUNNER_ID": f"runner-{n}"},
            stderr=subprocess.DEVNULL,
        )
        for n in range(runners)
    ]
    try:
        async with connect(settings) as session, session.follow(job_events("scale")) as events:
            await wait_ready(session, runners)
            started = time.perf_counter()
            run_id = await session.request_run("scale")
            planned_at = started
            while True:
                event = await events.get()
                if event.run_id != run_id:
                    continue
                if isinstance(event, RunPlanned):
                    planned_at = time.perf_counter()
                if is_end(event):
                    assert isinstance(event, RunFinished), event
                    finished = time.perf_counter()
                    return finished - started, finished - planned_at
    finally:
        for process in processes:
            process.send_signal(signal.SIGTERM)
        for process in processes:
            process.wait(30)


async def main(records: int, latency: float, in_flight: int) -> None:
    configure_logging(logging.WARNING)
    folder = Path(tempfile.mkdtemp(prefix="idsync-scale-"))
    write_csv(folder / "people.csv", people(records))
    (folder / "connections.toml").write_text(CONNECTIONS.format(latency=latency))
    (folder / "job.toml").write_text(JOB)
    server = EmbeddedNats(folder / "nats")
    url = server.start()
    settings = Settings(home=folder / "home", nats_url=url, principal="bench")
    stop, ready = asyncio.Event(), asyncio.Event()
    workflow = asyncio.create_task(run_services(["workflow"], settings, url, stop, ready))
    await ready.wait()
    try:
        async with connect(settings) as session:
            for connection in load_connections(folder / "connections.toml"):
                await session.store.put_connection(connection)
            await session.store.put_job(load_job(folder / "job.toml"))
        print(
            f"{records:,} records, {latency} ms per write, {in_flight} batches of 100 "
            f"in flight per runner"
        )
        base_total = base_apply = 0.0
        for runners in (1, 2, 4):
            total, apply = await one_round(folder, url, runners, in_flight)
            base_total, base_apply = base_total or total, base_apply or apply
            print(
                f"{runners} runner(s): whole run {total:6.1f} s ({base_total / total:.2f}x), "
                f"apply phase {apply:6.1f} s ({base_apply / apply:.2f}x)"
            )
    finally:
        stop.set()
        await workflow
        server.stop()


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--records", type=int, default=100_000)
    parser.add_argument("--latency-ms", type=float, default=5.0)
    parser.add_argument("--in-flight", type=int, default=8)
    options = parser.parse_args()
    asyncio.run(main(options.records, options.latency_ms, options.in_flight))
