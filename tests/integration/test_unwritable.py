"""A destination that cannot be written, through the services and a real SQLite file:
`connection test` says so, a run says why at once and ends failed — never a run that
sits in "applying" while its batches are retried for minutes."""

from __future__ import annotations

import asyncio
import os
import sqlite3
import subprocess
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from schemas.events import (
    RunBatchApplied,
    RunDeadLetter,
    RunDeliveryFailed,
    RunFailed,
    is_end,
)
from services.cli.client import Session
from services.common.settings import Settings

from .conftest import IDSYNC, JOB_ID, Files, RunServices, apply_files, env_for
from .journal import events_of_run, wait_for_event
from .test_delivery import locked

Freeze = Callable[[Path], None]


@pytest.fixture
def freeze() -> Iterator[Freeze]:
    """`freeze(folder)`: the folder takes no new file, even from root (the tests' usual
    user, whom permission bits do not stop): `chattr +i` for root, read-only permissions
    otherwise. Undone when the test ends."""
    frozen: list[Path] = []

    def make(folder: Path) -> None:
        if os.geteuid() == 0:
            done = subprocess.run(["chattr", "+i", str(folder)], capture_output=True, text=True)
            if done.returncode != 0:
                pytest.skip(f"chattr +i refused ({done.stderr.strip()}): nothing stops root")
        else:
            folder.chmod(0o555)
        frozen.append(folder)
        try:
            (folder / "probe").touch()
        except OSError:
            return
        (folder / "probe").unlink()
        pytest.skip(f"{folder} still takes new files here")

    yield make
    for folder in frozen:
        if os.geteuid() == 0:
            subprocess.run(["chattr", "-i", str(folder)], check=True)
        else:
            folder.chmod(0o755)


def existing_table(db: Path) -> None:
    """The destination exists already: its file is writable, its folder will not be."""
    db.parent.mkdir(parents=True, exist_ok=True)
    with sqlite3.connect(db) as conn:
        conn.execute("CREATE TABLE people (employee_id TEXT)")
    conn.close()


async def idsync(settings: Settings, *args: str) -> subprocess.CompletedProcess[str]:
    return await asyncio.to_thread(
        subprocess.run,
        [*IDSYNC, *args],
        env=env_for(settings),
        capture_output=True,
        text=True,
        timeout=30,
    )


async def test_connection_test_says_a_job_s_destination_cannot_be_written(
    files: Files, session: Session, settings: Settings, freeze: Freeze
) -> None:
    files.write(count=5)
    existing_table(files.db)
    await apply_files(session, files)
    freeze(files.db.parent)

    tested = await idsync(settings, "connection", "test", "db")
    assert tested.returncode == 4, tested.stdout
    assert f"cannot write in folder {files.db.parent}" in tested.stderr
    assert "job hr-to-db writes here" in tested.stderr
    # The CSV source lives in the same folder: reading is all its job asks of it.
    source = await idsync(settings, "connection", "test", "hr")
    assert source.returncode == 0, source.stderr
    assert "read-only" in source.stdout and "enough for a source only" in source.stdout


async def test_a_run_to_a_destination_it_cannot_write_fails_at_once_saying_why(
    files: Files, session: Session, services: RunServices, settings: Settings, freeze: Freeze
) -> None:
    files.write(count=5)
    existing_table(files.db)
    await apply_files(session, files)
    freeze(files.db.parent)
    async with services("workflow", "runner"):
        waited = await idsync(settings, "job", "run", JOB_ID, "--wait")
    assert waited.returncode == 4, waited.stderr
    assert "failed: sqlite: cannot write in folder" in waited.stderr
    [failed] = [e for e in await session.journal() if isinstance(e, RunFailed)]
    shown = await idsync(settings, "run", "show", failed.run_id)
    assert f"reason: sqlite: cannot write in folder {files.db.parent}" in shown.stdout
    events = await events_of_run(session, failed.run_id)
    assert not [e for e in events if isinstance(e, RunBatchApplied | RunDeliveryFailed)]


async def test_each_failed_attempt_is_said_at_once_and_a_permanent_failure_ends_the_run(
    files: Files,
    session: Session,
    services: RunServices,
    settings: Settings,
    freeze: Freeze,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("IDSYNC_SQLITE_BUSY_TIMEOUT", "0.05")
    files.write(count=20)
    existing_table(files.db)
    await apply_files(session, files)
    async with services("workflow", "runner"):
        with locked(files.db):  # another program's lock: the batch is tried again
            run_id = await session.request_run(JOB_ID)
            first = await wait_for_event(
                session, lambda e: isinstance(e, RunDeliveryFailed) and e.run_id == run_id, 10
            )
            freeze(files.db.parent)  # and then the folder turns read-only
        end = await wait_for_event(session, lambda e: is_end(e) and e.run_id == run_id, 10)
        shown = await idsync(settings, "run", "show", run_id)
    assert isinstance(first, RunDeliveryFailed)
    assert (first.stage, first.batch, first.attempt) == ("batch", 1, 1)
    assert first.attempts == settings.max_deliver and first.retry_in == settings.retry_delay
    assert "locked by another program" in first.error
    assert "batch 1: attempt 1 of 5 failed, trying again in 0.3s" in shown.stdout
    assert isinstance(end, RunFailed), end
    assert end.reason.startswith("batch 1 of 1 not applied: sqlite: cannot write in folder")
    events = await events_of_run(session, run_id)
    assert not [e for e in events if isinstance(e, RunDeadLetter)], "not retried to the end"
