"""Integration fixtures: settings for a test's own server, the services running in this
process, and a job's files (a CSV of people → a SQLite table) written to tmp_path."""

from __future__ import annotations

import asyncio
import os
import sys
from collections.abc import AsyncIterator, Callable, Sequence
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from pathlib import Path

import pytest

from core.checks.connections import check_connections
from core.checks.job import check_job
from services.cli.client import Session, connect
from services.common.definitions import load_connections, load_job
from services.common.embedded import EmbeddedNats
from services.common.hooks import hooks_problem
from services.common.host import run_services
from services.common.jetstream import ensure_infrastructure
from services.common.people import people, write_csv
from services.common.service_names import SERVICES
from services.common.settings import Settings
from services.providers import FACTS

JOB_ID = "hr-to-db"


def job_toml(
    *,
    schedule: str | None = None,
    on_destination_only: str = "delete",
    batch_size: int = 1000,
    extra: str = "",
) -> str:
    """The test job (CSV people → SQLite table); `extra` adds top-level TOML lines."""
    schedule_line = f'schedule = {{ every = "{schedule}" }}\n' if schedule else ""
    return f"""\
id = "{JOB_ID}"
title = "HR to the database"
source = {{ connection = "hr", file = "people.csv" }}
destination = {{ connection = "db", table = "people" }}
batch_size = {batch_size}
{extra}
{schedule_line}
[[objects]]
keys = ["employee_id"]
on_destination_only = "{on_destination_only}"
fields = [
  {{ to = "employee_id" }},
  {{ to = "given_name", from = "first_name" }},
  {{ to = "surname", from = "last_name" }},
  {{ to = "mail", from = "email" }},
  {{ to = "department" }},
  {{ to = "groups", delimiter = "|" }},
]
"""


CONNECTIONS = """\
[hr]
provider = "csv"
directory = "data"
delimiter = ";"

[db]
provider = "sqlite"
path = "data/directory.db"
"""


def connections_toml(owners: Sequence[str] = ()) -> str:
    """The test connections; with `owners`, each lists them (an owned job needs that)."""
    if not owners:
        return CONNECTIONS
    line = "owners = [" + ", ".join(f'"{owner}"' for owner in owners) + "]\n"
    return CONNECTIONS.replace('provider = "csv"\n', f'provider = "csv"\n{line}').replace(
        'provider = "sqlite"\n', f'provider = "sqlite"\n{line}'
    )


class Files:
    """A job's files under one folder."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.csv = folder / "data" / "people.csv"
        self.db = folder / "data" / "directory.db"
        self.connections = folder / "connections.toml"
        self.job = folder / "job.toml"

    def write(
        self, count: int = 50, *, owners: Sequence[str] = (), **job: str | int | None
    ) -> list[dict[str, str]]:
        """`owners`: the connections' owners (none by default)."""
        rows = people(count)
        write_csv(self.csv, rows)
        self.connections.write_text(connections_toml(owners))
        self.job.write_text(job_toml(**job))  # type: ignore[arg-type]
        return rows


@pytest.fixture
def files(tmp_path: Path) -> Files:
    return Files(tmp_path / "job")


@pytest.fixture
def settings(nats_server: EmbeddedNats, tmp_path: Path) -> Settings:
    return Settings(
        home=tmp_path / "home",
        nats_url=nats_server.url,
        principal="tester",
        runner_id="test-runner",
        ack_wait=3.0,
        max_deliver=5,
        retry_delay=0.3,
        scheduler_tick=0.1,
    )


def env_for(settings: Settings, **extra: str) -> dict[str, str]:
    """The environment a subprocess `idsync` needs to act like `settings`."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("IDSYNC_")}
    env.update(
        IDSYNC_HOME=str(settings.home),
        IDSYNC_NATS_URL=settings.nats_url or "",
        IDSYNC_PRINCIPAL=settings.principal,
        IDSYNC_ACK_WAIT=str(settings.ack_wait),
        IDSYNC_MAX_DELIVER=str(settings.max_deliver),
        IDSYNC_RETRY_DELAY=str(settings.retry_delay),
        IDSYNC_SCHEDULER_TICK=str(settings.scheduler_tick),
    )
    env.update(extra)
    return env


IDSYNC = [sys.executable, "-m", "services.cli.main"]

STARTING = 60.0
"""Seconds services get to start (connect, find or make their streams): seconds on an
idle machine, more on a loaded one."""


async def started(
    task: asyncio.Task[None], ready: asyncio.Event, timeout: float = STARTING
) -> None:
    """Until `ready` is set by the services `task` runs. A task that ends first (it could
    not start) raises its own error at once, rather than a timeout that hides it."""
    waiting = asyncio.create_task(ready.wait())
    try:
        await asyncio.wait({task, waiting}, timeout=timeout, return_when=asyncio.FIRST_COMPLETED)
    finally:
        waiting.cancel()
    if ready.is_set():
        return
    if task.done():
        task.result()  # its error
        raise AssertionError("the services stopped before they were ready")
    task.cancel()  # not left running into the next test
    raise AssertionError(f"the services were not ready within {timeout}s")


RunServices = Callable[..., AbstractAsyncContextManager[None]]


@pytest.fixture
def services(settings: Settings) -> RunServices:
    """`async with services("workflow", "runner"):` — those services run in this process."""

    @asynccontextmanager
    async def running(*names: str) -> AsyncIterator[None]:
        stop, ready = asyncio.Event(), asyncio.Event()
        task = asyncio.create_task(
            run_services(names or SERVICES, settings, settings.nats_url or "", stop, ready)
        )
        await started(task, ready)
        try:
            yield
        finally:
            stop.set()
            await asyncio.wait_for(task, 20)

    return running


@pytest.fixture
async def session(settings: Settings) -> AsyncIterator[Session]:
    """A person's session on a server where the services have started once: their
    streams, buckets and consumers exist (commands never create them)."""
    async with connect(settings) as session:
        await ensure_infrastructure(session.js, settings)
        yield session


async def apply_files(session: Session, files: Files) -> None:
    connections = load_connections(files.connections)
    check_connections(connections, FACTS, origin=str(files.connections))
    for connection in connections:
        await session.store.put_connection(connection)
    job = load_job(files.job)
    stored = {c.id: c for c in await session.store.connections()}
    check_job(job, stored, FACTS, hooks_problem=hooks_problem(job))
    await session.store.put_job(job)
