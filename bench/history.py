"""The recorder's ingest rate next to the run it records: CSV → SQLite, then history.

    .venv/bin/python bench/history.py [--people 100000]

Starts an embedded nats-server and the workflow and runner (`idsync serve`, their own
process), times the run that creates every person (request → finished: its apply
rate), then starts the recorder (`idsync serve recorder`) on the journal as it stands
and times until it holds the whole run — every event, and one row per field written
(its ingest rate). Both on the same machine in the same run; the ratio is what counts.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import msgspec

from bench.csv_to_sqlite import CONNECTIONS, JOB, line, timed_run
from core.checks.job import check_job
from core.errors import NotFound, Unreachable
from core.runs import RunStory
from schemas.history import HistoryQuery
from services.cli.client import connect
from services.cli.history import ask
from services.common.definitions import load_connections, load_job
from services.common.embedded import EmbeddedNats
from services.common.jetstream import wait_for_infrastructure
from services.common.people import people, write_csv
from services.common.settings import Settings
from services.providers import FACTS

FIELDS = 7
"""Fields the bench's job writes per created person: one history row each."""


def serve(env: dict[str, str], *names: str) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [sys.executable, "-m", "services.cli.main", "serve", *names],
        env=env,
        stderr=subprocess.DEVNULL,
    )


async def recorded(settings: Settings, run_id: str, events: int, rows: int) -> None:
    """Until the recorder holds the run's `events` and `rows`."""
    async with connect(settings) as session:
        while True:
            try:
                reply = await ask(session, HistoryQuery(what="run", run_id=run_id))
                story = msgspec.json.decode(reply.story, type=RunStory)
                if len(story.events) >= events and reply.total >= rows:
                    return
            except (NotFound, Unreachable):
                pass
            await asyncio.sleep(0.05)


async def main(count: int) -> None:
    folder = Path(tempfile.mkdtemp(prefix="idsync-bench-history-"))
    write_csv(folder / "people.csv", people(count))
    (folder / "connections.toml").write_text(CONNECTIONS)
    (folder / "job.toml").write_text(JOB)
    server = EmbeddedNats(folder / "nats")
    url = server.start()
    settings = Settings(home=folder / "home", nats_url=url, principal="bench")
    env = {**os.environ, "IDSYNC_NATS_URL": url, "IDSYNC_HOME": str(settings.home)}
    services = serve(env, "workflow", "runner")
    recorder: subprocess.Popen[bytes] | None = None
    try:
        async with connect(settings) as session:
            await wait_for_infrastructure(session.js)
            for connection in load_connections(folder / "connections.toml"):
                await session.store.put_connection(connection)
            job = load_job(folder / "job.toml")
            check_job(job, {c.id: c for c in await session.store.connections()}, FACTS)
            await session.store.put_job(job)
        await asyncio.sleep(1.0)  # start-up is not counted
        run_seconds, end = await timed_run(settings)
        async with connect(settings) as session:
            events = len([e for e in await session.journal() if e.run_id == end.run_id])
        recorder = serve(env, "recorder")
        started = time.perf_counter()
        await recorded(settings, end.run_id, events, count * FIELDS)
        ingest_seconds = time.perf_counter() - started
    finally:
        for process in (recorder, services):
            if process is not None:
                process.send_signal(signal.SIGTERM)
                process.wait(30)
        server.stop()
    assert end.stats.created == count
    print(f"people: {count:,}   ({count * FIELDS:,} fields written; files in {folder})")
    line("run: CSV → SQLite (all created)", run_seconds, count)
    line("recorder: the run's history", ingest_seconds, count)
    print(
        f"{'':40} = {count * FIELDS / ingest_seconds:,.0f} field rows/s; "
        f"{ingest_seconds / run_seconds:.2f}x the run's own time "
        "(recorder start-up included)"
    )


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--people", type=int, default=100_000, help="how many (default 100,000)")
    asyncio.run(main(parser.parse_args().people))
