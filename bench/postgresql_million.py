"""PostgreSQL → PostgreSQL, a million rows and nothing changed: the runner's peak memory.

    .venv/bin/python bench/postgresql_million.py [--rows 1000000] [--changed 1000] [--new 100]

Starts a throwaway PostgreSQL server (tests/postgresql_server.py), fills a source table
`hr` and a destination table `people` with the same made-up people (COPY), then runs the
job copying one into the other through an embedded nats-server and the services — the
workflow and the runner each in a process of its own — and prints the run's time and
the runner process's peak resident memory (VmHWM). Target: under 400 MB.

With --changed N, the job has `changes = { field = "modified_at" }` (a column of the
source table), and after the full run N rows change and an incremental run
(`--changed-only`) is timed next to it: it reads the changed rows and looks up their
objects alone. With --new N, N new people join the source afterwards and another
incremental run is timed: each one's key, looked up, is found in no object, and the
run creates them without reading the destination whole.
"""

from __future__ import annotations

import argparse
import asyncio
import csv
import io
import os
import shutil
import signal
import subprocess
import sys
import tempfile
from pathlib import Path

import asyncpg

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # for tests.*, bench.*

from bench.csv_to_sqlite import peak_rss_mib
from bench.ldap import define, timed_run
from bench.targets import below, verdict
from services.common.embedded import EmbeddedNats
from services.common.people import FIELDS, people
from services.common.settings import Settings
from tests.postgresql_server import Cluster, Server
from tests.sql_servers import connection_toml

JOB = """\
id = "million"
source = { connection = "db", table = "hr" }
destination = { connection = "db", table = "people" }
[[objects]]
keys = ["employee_id"]
fields = [
  { to = "employee_id" }, { to = "first_name" }, { to = "last_name" }, { to = "email" },
  { to = "department" }, { to = "title" }, { to = "groups", delimiter = "|" },
]
"""


CHANGES = 'changes = { field = "modified_at" }\n[[objects]]'


async def fill(server: Server, count: int) -> None:
    """Both tables, with the same rows, by COPY (a unique index on the key of each); the
    source's rows modified a second apart, a year ago."""
    text = io.StringIO()
    writer = csv.writer(text)
    for row in people(count):
        writer.writerow([row[field] for field in FIELDS])
    data = text.getvalue().encode()
    columns = ", ".join(f"{field} text" for field in FIELDS)
    conn = await asyncpg.connect(server.dsn())
    try:
        for table in ("hr", "people"):
            await conn.execute(f"CREATE TABLE {table} ({columns})")
            await conn.execute(f"CREATE UNIQUE INDEX {table}_key ON {table} (employee_id)")
            await conn.copy_to_table(table, source=io.BytesIO(data), format="csv", columns=FIELDS)
        await conn.execute("ALTER TABLE hr ADD COLUMN modified_at timestamptz")
        await conn.execute(
            "UPDATE hr SET modified_at = timestamptz '2025-01-01 00:00:00+00' "
            "+ substr(employee_id, 2)::int * interval '1 second'"
        )
        for table in ("hr", "people"):
            await conn.execute(f"VACUUM ANALYZE {table}")
    finally:
        await conn.close()


async def change(server: Server, count: int, changed: int) -> None:
    """`changed` rows of the source, evenly spread, get another department, now."""
    conn = await asyncpg.connect(server.dsn())
    try:
        done = await conn.execute(
            "UPDATE hr SET department = 'Changed', modified_at = now() "
            "WHERE substr(employee_id, 2)::int % $1 = 0",
            count // changed,
        )
        assert done == f"UPDATE {changed}", done
    finally:
        await conn.close()


async def hire(server: Server, new: int) -> None:
    """`new` people join the source, now."""
    conn = await asyncpg.connect(server.dsn())
    try:
        done = await conn.execute(
            "INSERT INTO hr (employee_id, first_name, last_name, email, department, title, "
            "groups, modified_at) SELECT 'N' || g, 'New', 'Hire', 'new' || g || "
            "'@example.org', 'Sales', 'Clerk', 'staff', now() FROM generate_series(1, $1) g",
            new,
        )
        assert done == f"INSERT 0 {new}", done
    finally:
        await conn.close()


def serve(env: dict[str, str], service: str) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [sys.executable, "-m", "services.cli.main", "serve", service],
        env=env,
        stderr=subprocess.DEVNULL,
    )


async def main(count: int, changed: int, new: int) -> None:
    folder = Path(tempfile.mkdtemp(prefix="idsync-bench-pg-million-"))
    server_folder = Path(tempfile.mkdtemp(prefix="idsync-bench-pg-million-server-"))
    cluster = Cluster(server_folder)
    server = cluster.start()
    nats = EmbeddedNats(folder / "nats")
    processes: list[subprocess.Popen[bytes]] = []
    try:
        await fill(server, count)
        db = connection_toml("postgresql", "db", server, folder)
        (folder / "connections.toml").write_text(db)
        url = nats.start()
        settings = Settings(home=folder / "home", nats_url=url, principal="bench")
        env = {**os.environ, "IDSYNC_NATS_URL": url, "IDSYNC_HOME": str(settings.home)}
        processes = [serve(env, "workflow"), serve(env, "runner")]
        job = JOB.replace("[[objects]]", CHANGES) if changed or new else JOB
        await define(settings, folder, {"million": job})
        await asyncio.sleep(1.0)  # the services' start-up is not counted
        seconds, end = await timed_run(settings, "million")
        peak = peak_rss_mib(processes[1].pid)
        if changed:
            await change(server, count, changed)
            incremental_seconds, incremental = await timed_run(settings, "million", True)
        if new:
            if not changed:  # the watermark, learnt by an incremental run of nothing
                await timed_run(settings, "million", True)
            await hire(server, new)
            hired_seconds, hired = await timed_run(settings, "million", True)
    finally:
        for process in processes:
            process.send_signal(signal.SIGTERM)
            process.wait(30)
        nats.stop()
        cluster.stop()
        shutil.rmtree(server_folder, ignore_errors=True)
        shutil.rmtree(folder, ignore_errors=True)
    assert end.stats.unchanged == count and end.stats.written == 0, end.stats
    met = "met" if peak < 400 else "NOT met"
    print(f"PostgreSQL → PostgreSQL, {count:,} rows, nothing changed")
    print(f"  run (request → finished): {seconds:6.1f} s  {count / seconds:>9,.0f} rows/s")
    print(f"  runner's peak memory:     {peak:6.0f} MiB  (target < 400 MiB: {met})")
    what = f"PostgreSQL → PostgreSQL, {count:,} rows, nothing changed: the runner's peak"
    verdict(below("postgresql_million.py", what, peak, 400, "MiB"))
    if changed:
        stats = incremental.stats
        assert (stats.updated, stats.written) == (changed, changed), stats
        print(
            f"  incremental, {changed:,} changed: {incremental_seconds:6.2f} s  "
            f"= {incremental_seconds / seconds:.3f}x the full run"
        )
    if new:
        assert (hired.stats.created, hired.stats.written) == (new, new), hired.stats
        print(
            f"  incremental, {new:,} new:     {hired_seconds:6.2f} s  "
            f"= {hired_seconds / seconds:.3f}x the full run"
        )


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument(
        "--changed", type=int, default=0, help="then time an incremental run of N changed"
    )
    parser.add_argument(
        "--new", type=int, default=0, help="then time an incremental run of N new people"
    )
    arguments = parser.parse_args()
    asyncio.run(main(arguments.rows, arguments.changed, arguments.new))
