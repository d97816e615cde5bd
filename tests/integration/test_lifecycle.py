"""The deprovisioning lifecycle through every service, on a destination that can disable
and enable (tests/plugins/lifecycle.py). Days pass by moving the recorded absence back,
never by sleeping."""

from __future__ import annotations

import json
from datetime import timedelta
from pathlib import Path
from typing import Any

import msgspec

from core.checks.job import check_job
from schemas.events import RunFinished
from services.cli.client import Session
from services.cli.watch import follow_run
from services.common.definitions import load_connections, load_job
from services.common.jetstream import ABSENT_BUCKET
from services.common.people import write_csv
from services.common.watermarks import Absence, Memory, absence_key
from services.providers import FACTS

from .conftest import JOB_ID, Files, RunServices, job_toml

CONNECTIONS = """\
[hr]
provider = "csv"
directory = "data"
delimiter = ";"

[db]
provider = "plugin"
factory = "tests.plugins.lifecycle:LifecycleProvider"
options = {{ path = "{path}" }}
actions = ["create", "update", "delete", "disable", "enable"]
"""
LIFECYCLE = 'on_destination_only = "disable"\ndelete_after = "30d"\nrestore = true\n'


async def apply(session: Session, files: Files) -> Path:
    stored = files.folder / "directory.json"
    files.connections.write_text(CONNECTIONS.format(path=stored))
    # The lifecycle settings go in the [[objects]] table, after its on_destination_only.
    job = job_toml(on_destination_only="disable", extra="safety = { max_percent = 50 }").replace(
        'on_destination_only = "disable"\n', LIFECYCLE
    )
    files.job.write_text(job)
    for connection in load_connections(files.connections):
        await session.store.put_connection(connection)
    loaded = load_job(files.job)
    check_job(loaded, {c.id: c for c in await session.store.connections()}, FACTS)
    await session.store.put_job(loaded)
    return stored


async def run(session: Session) -> RunFinished:
    _, end = await follow_run(session, JOB_ID, None)
    assert isinstance(end, RunFinished), end
    return end


def directory(stored: Path) -> dict[str, Any]:
    loaded: dict[str, Any] = json.loads(stored.read_text())[""]  # the job's one object type
    return loaded


async def days_pass(session: Session, key: str, days: int) -> None:
    """Move the day `key` was first found absent `days` back, as if they had passed."""
    kv = await session.js.key_value(ABSENT_BUCKET)
    entry = await kv.get(absence_key(JOB_ID, "user", key))
    assert entry.value is not None
    absence = msgspec.json.decode(entry.value, type=Absence)
    moved = msgspec.structs.replace(absence, since=absence.since - timedelta(days=days))
    await kv.put(absence_key(JOB_ID, "user", key), msgspec.json.encode(moved))


async def test_disabled_when_absent_deleted_after_thirty_days_restored_when_back(
    files: Files, session: Session, services: RunServices
) -> None:
    rows = files.write(count=10)
    stored = await apply(session, files)
    memory = Memory(session.js)
    leaver, returner = rows[9]["employee_id"], rows[8]["employee_id"]
    async with services():
        assert (await run(session)).stats.created == 10

        write_csv(files.csv, rows[:8])  # both leave
        first = await run(session)
        assert (first.stats.disabled, first.stats.deleted) == (2, 0)
        assert directory(stored)["disabled"] == sorted([leaver, returner])
        absent = await memory.absences(JOB_ID)
        assert set(absent["user"]) == {leaver, returner}

        again = await run(session)  # the next day: already disabled, nothing to do
        assert again.stats.written == 0 and again.stats.skipped == 2

        await days_pass(session, leaver, 29)
        assert (await run(session)).stats.deleted == 0, "29 days: not yet"
        await days_pass(session, leaver, 1)
        write_csv(files.csv, rows[:9])  # and the other one comes back
        back = await run(session)
        assert (back.stats.deleted, back.stats.enabled) == (1, 1)

    final = directory(stored)
    assert leaver not in final["objects"] and final["disabled"] == []
    assert ["enable", returner] in final["log"]
    assert await memory.absences(JOB_ID) == {}, "deleted and restored objects are forgotten"
