"""Job collections through the services, on a real nats-server: jobs one after the
other, never two at once; a failed job aborts the collection or lets it go on; a
collection survives its workflow and runner stopping half-way; a cancel stops it."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import pytest

from core.collections import CollectionRun
from schemas.events import (
    CollectionEnded,
    Event,
    RunApproved,
    RunFinished,
    RunRequested,
)
from services.cli.client import Session
from services.common.collection_runs import CollectionRuns
from services.common.definitions import load_job
from services.common.settings import Settings

from .conftest import JOB_ID, Files, RunServices, apply_files
from .test_cli import idsync

ALL = ["idsync.run.>", "idsync.collection.>"]


async def journal(session: Session) -> list[Event]:
    found = [e for subject in ALL for e in await session.journal(subject)]
    return sorted(found, key=lambda e: e.at)


@pytest.fixture
async def three_jobs(files: Files, session: Session) -> Files:
    """hr-to-db and second (CSV → SQLite, two tables), and broken (its file is missing:
    its runs fail while planning)."""
    files.write(count=4)
    await apply_files(session, files)
    job = load_job(files.job)
    for job_id, text in (
        ("second", files.job.read_text().replace('table = "people"', 'table = "others"')),
        ("broken", files.job.read_text().replace('file = "people.csv"', 'file = "gone.csv"')),
    ):
        path = files.folder / f"{job_id}.toml"
        path.write_text(text.replace(f'id = "{JOB_ID}"', f'id = "{job_id}"'))
        await session.store.put_job(load_job(path))
    assert job.id == JOB_ID
    return files


def collection_file(folder: Path, collection_id: str, *steps: tuple[str, str]) -> Path:
    path = folder / f"{collection_id}.toml"
    lines = [f'id = "{collection_id}"', f'title = "The {collection_id} collection"', ""]
    for job, on_failure in steps:
        lines += ["[[jobs]]", f'job = "{job}"', f'on_failure = "{on_failure}"', ""]
    path.write_text("\n".join(lines))
    return path


async def ok(settings: Settings, *args: str) -> str:
    done = await idsync(settings, *args)
    assert done.returncode == 0, (args, done.stdout, done.stderr)
    return done.stdout


async def ended(session: Session, run_id: str) -> CollectionRun:
    runs = CollectionRuns(session.js)

    async def until() -> CollectionRun:
        while True:
            run = await runs.get(run_id)
            if run is not None and run.ended:
                return run
            await asyncio.sleep(0.1)

    return await asyncio.wait_for(until(), 60)


async def test_a_failed_job_aborts_or_lets_the_collection_go_on(
    settings: Settings, three_jobs: Files, session: Session, services: RunServices
) -> None:
    folder = three_jobs.folder
    go_on = collection_file(folder, "go-on", ("broken", "continue"), (JOB_ID, "abort"))
    stop = collection_file(
        folder, "stop", (JOB_ID, "abort"), ("broken", "abort"), ("second", "abort")
    )
    for path in (go_on, stop):
        assert "applied collection" in await ok(settings, "collection", "apply", str(path))
    async with services("workflow", "runner"):
        went_on = await idsync(settings, "collection", "run", "go-on", "--wait", "--json")
        stopped = await idsync(settings, "collection", "run", "stop", "--wait", "--json")
    assert went_on.returncode == 4, went_on.stderr
    run = json.loads(went_on.stdout)
    assert run["state"] == "finished with failures"
    assert [(s["job"], s["outcome"]) for s in run["steps"]] == [
        ("broken", "failed"),
        (JOB_ID, "finished"),
    ]
    assert stopped.returncode == 4
    run = json.loads(stopped.stdout)
    assert run["state"] == "aborted"
    assert [(s["job"], s["outcome"]) for s in run["steps"]] == [
        (JOB_ID, "finished"),
        ("broken", "failed"),
        ("second", "skipped"),
    ]
    assert run["steps"][2]["run_id"] == ""  # it never started

    shown = json.loads(await ok(settings, "collection", "show", "stop", "--json"))
    [recent] = shown["runs"]
    step_run = recent["steps"][0]["run_id"]
    story = json.loads(await ok(settings, "run", "show", step_run, "--json"))
    assert story["state"] == "finished" and story["job_id"] == JOB_ID
    requested = [e for e in await journal(session) if isinstance(e, RunRequested)]
    assert {e.collection for e in requested} == {
        recent["run_id"],
        json.loads(went_on.stdout)["run_id"],
    }
    ends = [e for e in await journal(session) if isinstance(e, CollectionEnded)]
    assert sorted(e.outcome for e in ends) == ["aborted", "finished with failures"]


async def test_a_collection_survives_its_services_stopping_half_way(
    settings: Settings, three_jobs: Files, session: Session, services: RunServices
) -> None:
    path = collection_file(three_jobs.folder, "both", (JOB_ID, "abort"), ("second", "abort"))
    await ok(settings, "collection", "apply", str(path))
    async with services("workflow"):
        run_id = (await ok(settings, "collection", "run", "both")).strip()

        async def approved() -> None:
            while not any(isinstance(e, RunApproved) for e in await journal(session)):
                await asyncio.sleep(0.1)

        await asyncio.wait_for(approved(), 30)
    # The workflow stopped with the first job's run approved and no runner to run it.
    waiting = await CollectionRuns(session.js).get(run_id)
    assert waiting is not None and [s.outcome for s in waiting.steps] == ["running", "pending"]
    async with services("workflow", "runner"):
        run = await ended(session, run_id)
    assert run.state == "finished"
    assert [s.outcome for s in run.steps] == ["finished", "finished"]
    # Never two at once: the second job's run was asked for after the first one ended.
    events = await journal(session)
    first, second = (s.run_id for s in run.steps)
    finished_first = next(
        i for i, e in enumerate(events) if isinstance(e, RunFinished) and e.run_id == first
    )
    asked_second = next(
        i for i, e in enumerate(events) if isinstance(e, RunRequested) and e.run_id == second
    )
    assert finished_first < asked_second


async def test_a_cancelled_collection_cancels_its_running_job_and_starts_no_other(
    settings: Settings, three_jobs: Files, session: Session, services: RunServices
) -> None:
    path = collection_file(three_jobs.folder, "both", (JOB_ID, "abort"), ("second", "abort"))
    await ok(settings, "collection", "apply", str(path))
    async with services("workflow"):
        run_id = (await ok(settings, "collection", "run", "both")).strip()

        async def started() -> None:  # the first job's run is asked for; no runner takes it
            while (await CollectionRuns(session.js).get(run_id)) is None:
                await asyncio.sleep(0.1)

        await asyncio.wait_for(started(), 30)
        await ok(settings, "collection", "cancel", run_id)
        run = await ended(session, run_id)
        again = await idsync(settings, "collection", "cancel", run_id)
    assert run.state == "cancelled" and run.by == "tester"
    assert [s.outcome for s in run.steps] == ["cancelled", "skipped"]
    assert again.returncode == 2 and "has ended already" in again.stderr
    listed = await ok(settings, "collection", "list")
    assert "both" in listed and "cancelled" in listed
    await ok(settings, "collection", "delete", "both")
    assert "no collections yet" in await ok(settings, "collection", "list")
