"""One changed record, asked for from the command line and waited for, next to the
services' own time for the same run.

    .venv/bin/python bench/one_change.py [--people 10000] [--runs 15]

A job copies a CSV of made-up people into SQLite (first run not timed). Then, --runs
times: one person's title changes in the CSV and `idsync job run bench --wait` runs in a
fresh process (with `--key` for the key-scoped variant). Timed, each as the median:
  command   the whole command, start to exit (what a user waits for)
  services  the run's own request → finished, from its journal events' times
and prints the command's ratio to the services' time (target: within 5x), and the
services' time of a whole-source run next to a key-scoped one (which reads only what
it needs where the providers can look records up by key).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import signal
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # for bench.*

from bench.targets import verdict, within
from schemas.events import RunFinished, RunRequested
from services.cli.client import connect
from services.common.definitions import load_connections, load_job
from services.common.embedded import EmbeddedNats
from services.common.jetstream import wait_for_infrastructure
from services.common.people import people
from services.common.reading import run_events
from services.common.settings import Settings

JOB = """\
id = "bench"
source = { connection = "db", table = "hr" }
destination = { connection = "db", table = "people" }
[[objects]]
keys = ["employee_id"]
fields = [
  { to = "employee_id" }, { to = "given_name", from = "first_name" },
  { to = "surname", from = "last_name" }, { to = "mail", from = "email" },
  { to = "department" }, { to = "title" },
]
"""
CONNECTIONS = """\
[db]
provider = "sqlite"
path = "idsync.db"
"""


def seed(folder: Path, count: int) -> None:
    """The source table `hr` in the job's database: made-up people."""
    rows = list(people(count))
    columns = list(rows[0])
    db = sqlite3.connect(folder / "idsync.db")
    with db:
        db.execute(f"CREATE TABLE hr ({', '.join(columns)})")
        marks = ", ".join("?" * len(columns))
        db.executemany(f"INSERT INTO hr VALUES ({marks})", [list(r.values()) for r in rows])
    db.close()


def change_one(folder: Path, round_: int) -> str:
    """A new title for one person; their key."""
    db = sqlite3.connect(folder / "idsync.db")
    with db:
        (key,) = db.execute("SELECT employee_id FROM hr LIMIT 1 OFFSET ?", (round_ * 7,)).fetchone()
        db.execute("UPDATE hr SET title = ? WHERE employee_id = ?", (f"Title {round_}", key))
    db.close()
    return str(key)


async def services_seconds(settings: Settings, run_id: str) -> float:
    async with connect(settings) as session:
        events = await run_events(session.nc, "bench", run_id)
    asked = next(e for e in events if isinstance(e, RunRequested))
    ended = next(e for e in events if isinstance(e, RunFinished))
    assert ended.stats.updated == 1, ended.stats
    return (ended.at - asked.at).total_seconds()


def command(env: dict[str, str], *extra: str) -> tuple[float, str]:
    started = time.perf_counter()
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "services.cli.main",
            "job",
            "run",
            "bench",
            "--wait",
            "--json",
            *extra,
        ],
        env=env,
        capture_output=True,
        text=True,
        check=True,
    )
    seconds = time.perf_counter() - started
    return seconds, str(json.loads(done.stdout)["run_id"])


async def main(count: int, runs: int) -> None:
    folder = Path(tempfile.mkdtemp(prefix="idsync-bench-"))
    seed(folder, count)
    (folder / "connections.toml").write_text(CONNECTIONS)
    (folder / "job.toml").write_text(JOB)
    server = EmbeddedNats(folder / "nats")
    url = server.start()
    settings = Settings(home=folder / "home", nats_url=url, principal="bench")
    env = {**os.environ, "IDSYNC_NATS_URL": url, "IDSYNC_HOME": str(settings.home)}
    services = subprocess.Popen(
        [sys.executable, "-m", "services.cli.main", "serve", "workflow", "runner"],
        env=env,
        stderr=subprocess.DEVNULL,
    )
    results: dict[str, tuple[list[float], list[float]]] = {"whole": ([], []), "key": ([], [])}
    try:
        async with connect(settings) as session:
            await wait_for_infrastructure(session.js)
            for connection in load_connections(folder / "connections.toml"):
                await session.store.put_connection(connection)
            await session.store.put_job(load_job(folder / "job.toml"))
        command(env)  # the first run: every record created (not timed)
        for round_ in range(runs * 2):
            variant = "key" if round_ % 2 else "whole"
            key = change_one(folder, round_)
            extra = ("--key", key) if variant == "key" else ()
            seconds, run_id = command(env, *extra)
            results[variant][0].append(seconds)
            results[variant][1].append(await services_seconds(settings, run_id))
    finally:
        services.send_signal(signal.SIGTERM)
        services.wait(30)
        server.stop()
    print(f"people: {count:,}; one changed record a run; medians of {runs} runs each")
    for variant, (commands, own) in results.items():
        shown = "whole source" if variant == "whole" else "--key      "
        c, s = statistics.median(commands), statistics.median(own)
        print(
            f"{shown}  command {c * 1000:6.0f} ms   services {s * 1000:6.0f} ms   "
            f"= {c / s:.1f}x the services' time"
        )
        what = "one changed record, `idsync job run" + (
            " --wait`" if variant == "whole" else " --key --wait`"
        )
        verdict(
            within("one_change.py", what, c * 1000, "the services' own", s * 1000, 5, unit="ms")
        )


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--people", type=int, default=10_000)
    parser.add_argument("--runs", type=int, default=15)
    arguments = parser.parse_args()
    asyncio.run(main(arguments.people, arguments.runs))
