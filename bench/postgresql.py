"""CSV → PostgreSQL through the running services, next to PostgreSQL's own bulk load.

    .venv/bin/python bench/postgresql.py [--full]

Starts a throwaway PostgreSQL server (tests/postgresql_server.py: initdb and postgres on
a free loopback port, stopped at the end), an embedded nats-server and the services, and
times on the same machine in the same run, into the same table (text columns, a unique
index on employee_id, emptied with TRUNCATE between loads):
  references    `psql -c '\\copy people FROM people.csv'` of the same file, and COPY of it
                through asyncpg (copy_to_table); and the least a Python program reading
                the file spends: parsed by the csv module, the rows then copied
  first run     the idsync run that creates every row (request → finished)
  re-run        the same job again, nothing to write: its ratio to the first run
  1% changed    a department changed in 1% of the rows: its ratio to the first run
  incremental   another 1% changed, read by the job's twin with `changes` and
                --changed-only (bench/sql_runs.py): its ratio to the first run
Quick by default (20,000 people); --full: 100,000.
"""

from __future__ import annotations

import argparse
import asyncio
import csv
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import asyncpg

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # for tests.*, bench.*

from bench.sql_runs import COLUMNS, alone_and_runs, line, report
from services.common.people import people, write_csv
from tests.postgresql_server import Cluster, Server

TABLE = (
    f"CREATE TABLE people ({', '.join(f'{c} text' for c in COLUMNS)});\n"
    "CREATE UNIQUE INDEX people_idsync_key ON people (employee_id);\n"
)


def psql_copy(server: Server, csv_path: Path) -> float:
    """psql's \\copy of the file into the empty table (client start-up included)."""
    psql = shutil.which("psql") or "psql"
    copy = (
        f"\\copy people ({', '.join(COLUMNS)}) FROM '{csv_path}' "
        "WITH (FORMAT csv, DELIMITER ';', HEADER)"
    )
    started = time.perf_counter()
    subprocess.run([psql, "-X", "-q", "-d", server.dsn(), "-c", copy], check=True)
    return time.perf_counter() - started


async def asyncpg_copy(server: Server, csv_path: Path) -> float:
    """COPY of the file through asyncpg (connecting included)."""
    started = time.perf_counter()
    conn = await asyncpg.connect(server.dsn())
    try:
        await conn.copy_to_table(
            "people", source=csv_path, columns=COLUMNS, format="csv", delimiter=";", header=True
        )
    finally:
        await conn.close()
    return time.perf_counter() - started


async def parsed_and_copied(server: Server, csv_path: Path) -> tuple[float, float]:
    """The least a Python program reading the file itself spends: the rows parsed by
    Python's csv module, then COPY of them through asyncpg (connecting included). Its
    seconds, and the parse's alone."""
    started = time.perf_counter()
    with csv_path.open(newline="", encoding="utf-8") as source:
        rows = list(map(tuple, csv.reader(source, delimiter=";")))[1:]
    parsed = time.perf_counter() - started
    conn = await asyncpg.connect(server.dsn())
    try:
        await conn.copy_records_to_table("people", records=rows, columns=COLUMNS)
    finally:
        await conn.close()
    return time.perf_counter() - started, parsed


def rows_in(server: Server) -> int:
    return int(server.psql("SELECT count(*) FROM people").strip())


async def main(count: int) -> None:
    folder = Path(tempfile.mkdtemp(prefix="idsync-bench-postgresql-"))
    server_folder = Path(tempfile.mkdtemp(prefix="idsync-bench-postgresql-server-"))
    cluster = Cluster(server_folder)
    server = cluster.start()
    try:
        rows = people(count)
        csv_path = folder / "people.csv"
        write_csv(csv_path, rows)
        server.psql(TABLE)
        copy_seconds = psql_copy(server, csv_path)
        assert rows_in(server) == count
        server.psql("TRUNCATE people")
        asyncpg_seconds = await asyncpg_copy(server, csv_path)
        assert rows_in(server) == count
        server.psql("TRUNCATE people")
        floor_seconds, parse_seconds = await parsed_and_copied(server, csv_path)
        alone, runs = await alone_and_runs(
            "postgresql",
            server,
            folder,
            rows,
            csv_path,
            lambda: server.psql("TRUNCATE people; VACUUM ANALYZE people"),
            lambda: rows_in(server),
        )
    finally:
        cluster.stop()
        shutil.rmtree(server_folder, ignore_errors=True)
    shutil.rmtree(folder, ignore_errors=True)

    print(f"CSV → PostgreSQL, {count:,} people")
    line("reference: psql \\copy", copy_seconds, count)
    line("reference: COPY through asyncpg", asyncpg_seconds, count)
    line("csv module's parse, then COPY of the rows", floor_seconds, count)
    print(
        f"{'':44}= {floor_seconds / copy_seconds:.2f}x psql \\copy, the parse alone "
        f"{parse_seconds / copy_seconds:.2f}x: the least any Python program reading the "
        "file spends"
    )
    second = ("COPY through asyncpg", asyncpg_seconds)
    report("postgresql.py", runs, count, "psql \\copy", copy_seconds, alone, second)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--full", action="store_true", help="100,000 people (default 20,000)")
    asyncio.run(main(100_000 if parser.parse_args().full else 20_000))
