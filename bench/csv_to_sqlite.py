"""CSV → SQLite through the running services, next to a plain reference run.

    .venv/bin/python bench/csv_to_sqlite.py [--people 100000]

Generates a CSV of made-up people, starts an embedded nats-server and the services
(`idsync serve …`, in their own process, start-up not counted), applies a job and
times, on the same machine in the same run:
  references  Python's csv reader + sqlite3.executemany of the same rows, and the
              sqlite3 shell's `.import` of the same file into the same table shape
  first run   the idsync run that creates every row (request → finished); and the CPU
              time the services spent on it next to the executemany reference's own
  re-run      the same job again: nothing to write; its reference is a plain hash join
              (the CSV read into a dict by key, idsync's table into another, every
              record compared, mapped as the job maps it); and the CPU time the
              services spent on the re-run next to the hash join's own (the steadier
              ratio on a machine other work shares)
and prints records/second, each run's ratio to its reference and the services' peak
memory. `make bench` runs it with 20,000 people; `make bench FULL=1` with 100,000.

    .venv/bin/python bench/csv_to_sqlite.py --metrics-overhead 5 [--people 100000]

measures instead what serving the metrics costs (IDSYNC_METRICS_PORT): two sets of
services, each with its own nats-server, one with the metrics off and one with them on
(scraped every second meanwhile, as Prometheus would, only faster), run the same job in
turn, ROUNDS times each — a first run (the table removed before it) and a re-run — and
the medians are compared: the ratio on / off, in the same run on the same machine, of the
time from request to finished and of the CPU time the services' process spent on it (the
steadier figure on a machine other work shares).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import csv
import os
import shutil
import signal
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # for bench.*

from bench.ldap import restart_services, start_services
from bench.targets import verdict, within
from core.checks.job import check_job
from schemas.events import RunFinished
from services.cli.client import connect
from services.cli.watch import follow_run
from services.common.definitions import load_connections, load_job
from services.common.embedded import EmbeddedNats
from services.common.jetstream import wait_for_infrastructure
from services.common.people import FIELDS, people, write_csv
from services.common.settings import METRICS_URL_FILE, Settings
from services.providers import FACTS

JOB = """\
id = "bench"
source = { connection = "files", file = "people.csv" }
destination = { connection = "db", table = "people" }
batch_size = 5000
[[objects]]
keys = ["employee_id"]
fields = [
  { to = "employee_id" }, { to = "given_name", from = "first_name" },
  { to = "surname", from = "last_name" }, { to = "mail", from = "email" },
  { to = "department" }, { to = "title" }, { to = "groups", delimiter = "|" },
]
"""
CONNECTIONS = """\
[files]
provider = "csv"
directory = "."
delimiter = ";"
[db]
provider = "sqlite"
path = "idsync.db"
"""


def reference(csv_path: Path, db_path: Path) -> tuple[float, float]:
    """The plain way: read the CSV, executemany into a table with a unique key. Its wall
    time and CPU time (SQLite works in this process)."""
    started, cpu = time.perf_counter(), time.process_time()
    with csv_path.open(newline="", encoding="utf-8") as source:
        rows = list(csv.reader(source, delimiter=";"))[1:]
    conn = sqlite3.connect(db_path)
    conn.execute("PRAGMA journal_mode=WAL")
    columns = ", ".join(f'"{name}" TEXT' for name in FIELDS)
    conn.execute(f"CREATE TABLE people ({columns})")
    conn.execute('CREATE UNIQUE INDEX people_key ON people ("employee_id")')
    marks = ", ".join("?" for _ in FIELDS)
    with conn:
        conn.executemany(f"INSERT INTO people VALUES ({marks})", rows)
    conn.close()
    return time.perf_counter() - started, time.process_time() - cpu


TABLE = (
    'CREATE TABLE people ({columns});\nCREATE UNIQUE INDEX people_key ON people ("employee_id");\n'
).format(columns=", ".join(f'"{name}" TEXT' for name in FIELDS))


def shell_import(csv_path: Path, db_path: Path) -> float | None:
    """The sqlite3 shell's `.import` of the CSV into the same table (None: no shell)."""
    shell = shutil.which("sqlite3")
    if shell is None:
        return None
    script = (
        f"PRAGMA journal_mode=WAL;\n{TABLE}"
        f".mode csv\n.separator ;\n.import --skip 1 {csv_path} people\n"
    )
    started = time.perf_counter()
    subprocess.run(
        [shell, str(db_path)], input=script, text=True, check=True, stdout=subprocess.DEVNULL
    )
    return time.perf_counter() - started


# The job's mapping: destination column -> CSV column (the groups apart: a list).
MAPPED = {
    "employee_id": "employee_id",
    "given_name": "first_name",
    "surname": "last_name",
    "mail": "email",
    "department": "department",
    "title": "title",
}


def hash_join(csv_path: Path, db_path: Path) -> tuple[float, float, int]:
    """The plain way to find nothing changed: both sides into dicts by key, compared
    field by field (the groups as lists, joined by "|" on both sides). Its wall time, its
    CPU time and how many records it found unchanged."""
    started, cpu = time.perf_counter(), time.process_time()
    with csv_path.open(newline="", encoding="utf-8") as source:
        reader = csv.DictReader(source, delimiter=";")
        wanted = {
            row["employee_id"]: (
                *(row[column] or None for column in MAPPED.values()),
                row["groups"].split("|") if row["groups"] else None,
            )
            for row in reader
        }
    conn = sqlite3.connect(db_path)
    columns = ", ".join(f'"{name}"' for name in [*MAPPED, "groups"])
    found = {
        row[0]: (*row[:-1], row[-1].split("|") if row[-1] else None)
        for row in conn.execute(f"SELECT {columns} FROM people")
    }
    conn.close()
    unchanged = sum(1 for key, values in wanted.items() if found.get(key) == values)
    return time.perf_counter() - started, time.process_time() - cpu, unchanged


def peak_rss_mib(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return float("nan")


async def timed_run(settings: Settings) -> tuple[float, RunFinished]:
    async with connect(settings) as session:
        started = time.perf_counter()
        _, end = await follow_run(session, "bench", None)
    assert isinstance(end, RunFinished), end
    return time.perf_counter() - started, end


async def main(count: int) -> None:
    folder = Path(tempfile.mkdtemp(prefix="idsync-bench-"))
    csv_path = folder / "people.csv"
    write_csv(csv_path, people(count))
    (folder / "connections.toml").write_text(CONNECTIONS)
    (folder / "job.toml").write_text(JOB)
    ref_seconds, ref_cpu = reference(csv_path, folder / "reference.db")
    shell_seconds = shell_import(csv_path, folder / "shell.db")

    server = EmbeddedNats(folder / "nats")
    url = server.start()
    settings = Settings(home=folder / "home", nats_url=url, principal="bench")
    env = {**os.environ, "IDSYNC_NATS_URL": url, "IDSYNC_HOME": str(settings.home)}
    services = start_services(env)
    try:
        await put_job(settings, folder)
        services = await restart_services(services, env, settings)
        await asyncio.sleep(1.0)  # the services' start-up is not counted
        first_seconds, first_cpu, first = await measured_run(settings, services.pid)
        rerun_seconds, rerun_cpu, rerun = await measured_run(settings, services.pid)
        peak = peak_rss_mib(services.pid)
        join_seconds, join_cpu, join_unchanged = hash_join(csv_path, folder / "idsync.db")
    finally:
        services.send_signal(signal.SIGTERM)
        services.wait(30)
        server.stop()
    assert first.stats.created == count and rerun.stats.written == 0
    assert join_unchanged == count, f"the hash join found {count - join_unchanged} changed"
    print(f"people: {count:,}   (files in {folder})")
    line("reference: csv + sqlite3.executemany", ref_seconds, count)
    if shell_seconds is None:
        print("reference: sqlite3 shell .import      (no sqlite3 shell: apt install sqlite3)")
    else:
        line("reference: sqlite3 shell .import", shell_seconds, count)
    line("idsync first run (all created)", first_seconds, count)
    print(f"{'':40} = {first_seconds / ref_seconds:.2f}x executemany", end="")
    if shell_seconds is not None:
        print(f", {first_seconds / shell_seconds:.2f}x .import", end="")
    print()
    print(
        f"{'':40} CPU time: the services {first_cpu:.2f} s, executemany {ref_cpu:.2f} s "
        f"= {first_cpu / ref_cpu:.2f}x (steadier on a busy machine)"
    )
    line("reference: hash join of both sides", join_seconds, count)
    line("idsync re-run (nothing to write)", rerun_seconds, count)
    print(
        f"{'':40} = {rerun_seconds / join_seconds:.2f}x the hash join "
        f"({rerun.stats.unchanged:,} unchanged)"
    )
    print(
        f"{'':40} CPU time: the services {rerun_cpu:.2f} s, the hash join {join_cpu:.2f} s "
        f"= {rerun_cpu / join_cpu:.2f}x (steadier on a busy machine)"
    )
    print(f"services' peak memory (runner + workflow process): {peak:.0f} MiB")
    bench, first_what = "csv_to_sqlite.py", f"CSV → SQLite first run, {count:,} people"
    verdict(within(bench, first_what, first_seconds, "executemany", ref_seconds, 3))
    if shell_seconds is not None:
        verdict(within(bench, first_what, first_seconds, "sqlite3 .import", shell_seconds, 5))
    rerun_what = f"CSV → SQLite re-run, nothing to write, {count:,} people"
    verdict(within(bench, rerun_what, rerun_seconds, "hash join", join_seconds, 1.3))


@contextmanager
def serving(folder: Path, metrics: bool) -> Iterator[tuple[Settings, int]]:
    """A nats-server and the workflow and runner in their own process, in `folder`; the
    settings to reach them and the services' pid."""
    server = EmbeddedNats(folder / "nats")
    url = server.start()
    settings = Settings(home=folder / "home", nats_url=url, principal="bench")
    env = {**os.environ, "IDSYNC_NATS_URL": url, "IDSYNC_HOME": str(settings.home)}
    env.pop("IDSYNC_METRICS_PORT", None)
    if metrics:
        env["IDSYNC_METRICS_PORT"] = "0"
    services = subprocess.Popen(
        [sys.executable, "-m", "services.cli.main", "serve", "workflow", "runner"],
        env=env,
        stderr=subprocess.DEVNULL,
    )
    try:
        yield settings, services.pid
    finally:
        services.send_signal(signal.SIGTERM)
        services.wait(30)
        server.stop()


def cpu_seconds(pid: int) -> float:
    """The CPU time a process has used (user + system), from /proc."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


async def measured_run(settings: Settings, pid: int) -> tuple[float, float, RunFinished]:
    """A run's wall time and the CPU time the services spent on it."""
    cpu = cpu_seconds(pid)
    seconds, end = await timed_run(settings)
    return seconds, cpu_seconds(pid) - cpu, end


async def put_job(settings: Settings, folder: Path) -> None:
    async with connect(settings) as session:
        await wait_for_infrastructure(session.js)  # the services create it
        for connection in load_connections(folder / "connections.toml"):
            await session.store.put_connection(connection)
        job = load_job(folder / "job.toml")
        check_job(job, {c.id: c for c in await session.store.connections()}, FACTS)
        await session.store.put_job(job)


async def scraping(settings: Settings, stop: asyncio.Event) -> int:
    """Scrape /metrics every second until `stop`, as Prometheus would; how many times."""
    url_file = settings.home / METRICS_URL_FILE
    while not url_file.is_file():
        await asyncio.sleep(0.1)
    url = url_file.read_text().strip() + "/metrics"
    scrapes = 0
    while not stop.is_set():
        await asyncio.to_thread(lambda: urllib.request.urlopen(url, timeout=5).read())
        scrapes += 1
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), 1.0)
    return scrapes


async def overhead(count: int, rounds: int) -> None:
    """Metrics on vs off: the same runs, alternated, medians compared."""
    root = Path(tempfile.mkdtemp(prefix="idsync-bench-metrics-"))
    folders = {"off": root / "off", "on": root / "on"}
    rows = people(count)
    for folder in folders.values():
        folder.mkdir()
        write_csv(folder / "people.csv", rows)
        (folder / "connections.toml").write_text(CONNECTIONS)
        (folder / "job.toml").write_text(JOB)
    # side → run → measure ("wall", "cpu") → one figure per round
    figures: dict[str, dict[str, dict[str, list[float]]]] = {
        side: {run: {"wall": [], "cpu": []} for run in ("first", "rerun")} for side in folders
    }
    with serving(folders["off"], False) as off, serving(folders["on"], True) as on:
        sides = {"off": off, "on": on}
        for side, (settings, _) in sides.items():
            await put_job(settings, folders[side])
        stop = asyncio.Event()
        scraper = asyncio.create_task(scraping(on[0], stop))
        await asyncio.sleep(1.0)  # the services' start-up is not counted
        for round_ in range(rounds):
            # Alternate which goes first, so neither always runs on a warmer machine.
            order = ("off", "on") if round_ % 2 == 0 else ("on", "off")
            for side in order:
                settings, pid = sides[side]
                (folders[side] / "idsync.db").unlink(missing_ok=True)
                for run in ("first", "rerun"):
                    wall, cpu, end = await measured_run(settings, pid)
                    if run == "first":
                        assert end.stats.created == count
                    else:
                        assert end.stats.written == 0
                    figures[side][run]["wall"].append(wall)
                    figures[side][run]["cpu"].append(cpu)
        stop.set()
        scrapes = await scraper
    print(f"people: {count:,}   rounds: {rounds}   (files in {root})")
    print(f"metrics scraped {scrapes} times during the runs; medians, metrics on / off:")
    for run in ("first", "rerun"):
        what = "first run (all created)" if run == "first" else "re-run (nothing to write)"
        for measure in ("wall", "cpu"):
            off_median = statistics.median(figures["off"][run][measure])
            on_median = statistics.median(figures["on"][run][measure])
            ratio = on_median / off_median
            label = "request → finished" if measure == "wall" else "services' CPU time"
            print(
                f"{what + ',':28} {label + ':':22} off {off_median:6.2f} s   "
                f"on {on_median:6.2f} s   = {ratio:.3f}x ({(ratio - 1) * 100:+.1f}%)"
            )


def line(what: str, seconds: float, count: int) -> None:
    print(f"{what + ':':40} {seconds:6.2f} s  {count / seconds:>9,.0f} records/s")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--people", type=int, default=100_000, help="how many (default 100,000)")
    parser.add_argument(
        "--metrics-overhead",
        type=int,
        metavar="ROUNDS",
        help="measure the metrics' cost instead: ROUNDS runs with them off and on, alternated",
    )
    arguments = parser.parse_args()
    if arguments.metrics_overhead:
        asyncio.run(overhead(arguments.people, arguments.metrics_overhead))
    else:
        asyncio.run(main(arguments.people))
