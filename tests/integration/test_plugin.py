"""A provider of one's own, named in a connection file as "package.module:callable"."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from core.checks.job import check_job
from core.errors import BadInput
from schemas.events import RunFailed, RunFinished
from services.cli.client import Session
from services.cli.watch import follow_run
from services.common.definitions import load_connections, load_job
from services.providers import FACTS

from .conftest import JOB_ID, Files, RunServices, job_toml

PLUGIN = """\
[hr]
provider = "csv"
directory = "data"
delimiter = ";"

[db]
provider = "plugin"
factory = "{factory}"
options = {{ path = "{path}" }}
"""


async def apply(session: Session, files: Files, factory: str, **job: str) -> Path:
    stored = files.folder / "stored.json"
    files.connections.write_text(PLUGIN.format(factory=factory, path=stored))
    files.job.write_text(job_toml(**job))  # type: ignore[arg-type]
    for connection in load_connections(files.connections):
        await session.store.put_connection(connection)
    job_ = load_job(files.job)
    check_job(job_, {c.id: c for c in await session.store.connections()}, FACTS)
    await session.store.put_job(job_)
    return stored


async def test_a_plugin_provider_is_loaded_and_written_to(
    files: Files, session: Session, services: RunServices
) -> None:
    people = files.write(count=15)
    stored = await apply(session, files, "tests.plugins.recording:RecordingProvider")
    async with services():
        _, first = await follow_run(session, JOB_ID, None)
        _, again = await follow_run(session, JOB_ID, None)
    assert isinstance(first, RunFinished) and first.stats.created == 15
    assert isinstance(again, RunFinished) and again.stats.unchanged == 15
    written = json.loads(stored.read_text())
    assert written[people[0]["employee_id"]]["given_name"] == people[0]["first_name"]


async def test_a_plugin_that_cannot_be_imported_fails_the_run_saying_so(
    files: Files, session: Session, services: RunServices
) -> None:
    files.write(count=3)
    await apply(session, files, "no_such_package.sync:Provider")
    async with services():
        _, end = await follow_run(session, JOB_ID, None)
    assert isinstance(end, RunFailed)
    assert "cannot import no_such_package.sync" in end.reason
    assert "install it on every runner" in end.reason


async def test_a_plugin_is_asked_only_for_what_it_declares(files: Files, session: Session) -> None:
    files.write(count=3)
    with pytest.raises(BadInput, match="cannot disable"):
        await apply(
            session,
            files,
            "tests.plugins.recording:RecordingProvider",
            on_destination_only="disable",
        )
