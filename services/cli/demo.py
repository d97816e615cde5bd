"""`idsync demo`: the whole product on embedded defaults, in one command.

An embedded nats-server, the four services in this process, and a scenario on
people made up afresh under IDSYNC_HOME/demo: a CSV of a few hundred people is
synchronized into a SQLite table, again (nothing to do), then after one person
changed, one joined and one left (exactly three changes).
"""

from __future__ import annotations

import argparse
import asyncio
import shutil
import sys
from pathlib import Path

from core.checks.connections import check_connections
from core.checks.job import check_job
from core.runs import fold
from services.common.definitions import load_connections, load_job
from services.common.embedded import EmbeddedNats
from services.common.logging import configure_logging
from services.common.people import people, write_csv
from services.common.service_names import SERVICES
from services.common.settings import Settings
from services.common.watermarks import Memory
from services.providers import FACTS
from services.runner.planning import Asked, plan_run

from .client import Session, connect
from .output import Progress, print_table
from .preview import absent_objects, change_lines
from .watch import EXIT_OK, describe_end, exit_code, follow_run

PEOPLE = 300
JOB_ID = "hr-csv-to-sqlite"
"""The demo's job: what it does, in its name."""

CONNECTIONS = """\
# Where the demo's data lives. Paths are relative to this file.
[hr-files]
provider = "csv"
title = "HR exports"
directory = "data"
delimiter = ";"

[people-db]
provider = "sqlite"
title = "The people database"
path = "data/people.db"
"""

JOB = (
    f'id = "{JOB_ID}"\n'
    + """\
title = "HR's people CSV into the people table of a SQLite database"
source = { connection = "hr-files", file = "people.csv" }
destination = { connection = "people-db", table = "people" }

[[objects]]
type = "user"
keys = ["employee_id"]
on_source_only = "create"
on_both = "update"
on_destination_only = "delete"
fields = [
  { to = "employee_id" },
  { to = "given_name", from = "first_name" },
  { to = "surname", from = "last_name" },
  { to = "mail", from = "email" },
  { to = "department" },
  { to = "title" },
  { to = "groups", delimiter = "|" },
]
"""
)


def say(text: str = "") -> None:
    print(text, flush=True)


def prepare(folder: Path) -> tuple[Path, Path, Path]:
    """Fresh files for the scenario: the people CSV, the connections and the job."""
    (folder / "jobs").mkdir(parents=True, exist_ok=True)
    write_csv(folder / "data" / "people.csv", people(PEOPLE))
    (folder / "connections.toml").write_text(CONNECTIONS)
    job_file = folder / "jobs" / f"{JOB_ID}.toml"
    job_file.write_text(JOB)
    return folder / "data" / "people.csv", folder / "connections.toml", job_file


def edit_people(csv_path: Path) -> tuple[str, str, str]:
    """One person changes department, one joins, one leaves."""
    rows = people(PEOPLE)
    changed, left = rows[41], rows.pop(99)
    changed["department"] = "Research" if changed["department"] != "Research" else "Legal"
    joined = people(1, seed=99, start=PEOPLE + 1)[0]
    rows.append(joined)
    write_csv(csv_path, rows)
    return changed["employee_id"], joined["employee_id"], left["employee_id"]


async def run_once(session: Session, title: str) -> int:
    say(f"\n▶ {title}")
    progress = Progress(sys.stdout)
    run_id, end = await follow_run(session, JOB_ID, None, progress)
    progress.close()
    say("  " + describe_end(run_id, end).replace("\n", "\n  "))
    return exit_code(end)


async def scenario(session: Session, folder: Path) -> int:
    csv_path, connections_file, job_file = prepare(folder)
    say(f"Made up {PEOPLE} people in {csv_path}")
    connections = load_connections(connections_file)
    check_connections(connections, FACTS, origin=str(connections_file))
    for connection in connections:
        await session.store.put_connection(connection)
    job = load_job(job_file)
    check_job(job, {c.id: c for c in await session.store.connections()}, FACTS)
    await session.store.put_job(job)
    say(f"Applied {connections_file.name} and job {job.id}: CSV → SQLite table 'people'")
    for title in ("Run 1: the first synchronization", "Run 2: again — nothing has changed"):
        if (code := await run_once(session, title)) != EXIT_OK:
            return code
    changed, joined, left = edit_people(csv_path)
    say(f"\n✎ Edited the CSV: {changed} changed department, {joined} joined, {left} left")
    planned = await plan_run(session.store, Memory(session.js), job, Asked())
    changes = planned.plan.changes
    say("  The plan for the next run:")
    for line in change_lines(job, changes, await absent_objects(session.store, job, changes)):
        say(f"    {line}")
    if (code := await run_once(session, "Run 3: exactly those three changes")) != EXIT_OK:
        return code
    runs = fold(await session.journal())
    say("\nThe journal (idsync run list):")
    print_table(
        [(r.run_id, r.state, " → ".join(r.events)) for r in runs],
        ("RUN", "STATE", "EVENTS"),
        sys.stdout,
    )
    say(f"\nThe destination: {folder / 'data' / 'people.db'} (table people)")
    return EXIT_OK


async def demo(args: argparse.Namespace) -> int:
    from services.common.host import run_services  # FastStream: loaded to serve, not to start

    settings: Settings = args.settings
    folder = settings.home / "demo"
    shutil.rmtree(folder, ignore_errors=True)
    folder.mkdir(parents=True)
    log_file = (folder / "services.log").open("w")
    configure_logging(stream=log_file, json=True, runs=True)
    server = EmbeddedNats(folder / "nats")
    url = await asyncio.to_thread(server.start)
    say(f"Started an embedded NATS server at {url} (store in {folder / 'nats'})")
    demo_settings = Settings(
        **{**{f: getattr(settings, f) for f in settings.__struct_fields__}, "nats_url": url}
    )
    stop, ready = asyncio.Event(), asyncio.Event()
    services = asyncio.create_task(run_services(SERVICES, demo_settings, url, stop, ready))
    try:
        await asyncio.wait_for(ready.wait(), 30)
        say(f"Started the services: {', '.join(SERVICES)} (their log: {folder / 'services.log'})")
        async with connect(demo_settings) as session:
            return await scenario(session, folder)
    finally:
        stop.set()
        await services
        await asyncio.to_thread(server.stop)
        log_file.close()
