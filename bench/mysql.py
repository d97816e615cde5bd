"""CSV → MariaDB through the running services, next to MariaDB's own bulk load.

    .venv/bin/python bench/mysql.py [--full]

Starts a throwaway MariaDB server (tests/mysql_server.py: mariadb-install-db and mariadbd
on a free loopback port, stopped at the end), an embedded nats-server and the services,
and times on the same machine in the same run, into the same table (the one idsync would
create: InnoDB, utf8mb4_bin, a varchar key with a unique index, text columns):
  reference     the `mariadb` client's `LOAD DATA LOCAL INFILE` of the same file (the
                table then emptied with TRUNCATE)
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
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # for tests.*, bench.*

from bench.sql_runs import COLUMNS, alone_and_runs, line, report
from services.common.people import people, write_csv
from tests.mysql_server import Instance, Server

TABLE = (
    "CREATE TABLE people (employee_id varchar(255), "
    + ", ".join(f"`{c}` text" for c in COLUMNS[1:])
    + ", UNIQUE KEY `idsync_key` (employee_id)) ENGINE=InnoDB "
    "DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin"
)


def load_data(server: Server, csv_path: Path) -> float:
    """The mariadb client's LOAD DATA LOCAL INFILE into the empty table (start-up
    included)."""
    client = shutil.which("mariadb") or "mariadb"
    load = (
        f"LOAD DATA LOCAL INFILE '{csv_path}' INTO TABLE people CHARACTER SET utf8mb4 "
        "FIELDS TERMINATED BY ';' OPTIONALLY ENCLOSED BY '\"' LINES TERMINATED BY '\\r\\n' "
        f"IGNORE 1 LINES ({', '.join(f'`{c}`' for c in COLUMNS)})"
    )
    where = ["--protocol=TCP", "-h", server.host, "-P", str(server.port), "-u", server.user]
    started = time.perf_counter()
    subprocess.run(
        [client, "--no-defaults", "--local-infile=1", *where, server.database, "-e", load],
        check=True,
        env={**os.environ, "MYSQL_PWD": server.password},
    )
    return time.perf_counter() - started


def rows_in(server: Server) -> int:
    return int(server.sql("SELECT count(*) FROM people").strip())


async def main(count: int) -> None:
    folder = Path(tempfile.mkdtemp(prefix="idsync-bench-mysql-"))
    server_folder = Path(tempfile.mkdtemp(prefix="idsync-bench-mysql-server-"))
    instance = Instance(server_folder)
    admin = instance.start()
    admin.sql("CREATE DATABASE bench")
    server = Server(admin.host, admin.port, admin.user, admin.password, "bench")
    try:
        rows = people(count)
        csv_path = folder / "people.csv"
        write_csv(csv_path, rows)
        server.sql(TABLE)
        load_seconds = load_data(server, csv_path)
        alone, runs = await alone_and_runs(
            "mysql",
            server,
            folder,
            rows,
            csv_path,
            lambda: server.sql("TRUNCATE people"),
            lambda: rows_in(server),
        )
    finally:
        instance.stop()
        shutil.rmtree(server_folder, ignore_errors=True)
    shutil.rmtree(folder, ignore_errors=True)

    print(f"CSV → MariaDB, {count:,} people")
    line("reference: mariadb LOAD DATA LOCAL INFILE", load_seconds, count)
    report("mysql.py", runs, count, "LOAD DATA", load_seconds, alone)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--full", action="store_true", help="100,000 people (default 20,000)")
    asyncio.run(main(100_000 if parser.parse_args().full else 20_000))
