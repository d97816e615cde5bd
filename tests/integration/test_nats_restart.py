"""The NATS server goes away mid-run and comes back on the same store: every consumer
resumes; a subscription that went silent is restarted by the liveness check."""

from __future__ import annotations

import asyncio
import subprocess
from asyncio.subprocess import Process
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import msgspec
import pytest

from core.errors import Unreachable
from schemas.events import Event, RunFinished, RunPlanned, is_end
from services.cli.client import Session, connect
from services.cli.watch import follow_run
from services.common.embedded import EmbeddedNats
from services.common.host import ServiceHost, run_services
from services.common.jetstream import WORK, WORKER
from services.common.service_names import SERVICES
from services.common.settings import Settings

from .conftest import IDSYNC, JOB_ID, Files, apply_files, env_for, started
from .journal import wait_for_event
from .test_delivery import locked
from .test_flow import table


async def test_a_restarted_server_lets_the_run_complete_and_every_consumer_resume(
    files: Files, settings: Settings, nats_server: EmbeddedNats
) -> None:
    files.write(count=500)
    files.db.parent.mkdir(parents=True, exist_ok=True)
    stop, ready = asyncio.Event(), asyncio.Event()
    url = nats_server.url
    services = asyncio.create_task(run_services(SERVICES, settings, url, stop, ready))
    await started(services, ready)
    try:
        # The apply waits on the lock while the server goes away; then it writes the batch
        # with nobody to tell.
        with locked(files.db):
            async with connect(settings) as session:
                await apply_files(session, files)
                run_id = await session.request_run(JOB_ID)
                await wait_for_event(
                    session, lambda e: isinstance(e, RunPlanned) and e.run_id == run_id
                )
            await asyncio.to_thread(nats_server.stop)
        await asyncio.sleep(1.0)
        await asyncio.to_thread(nats_server.start, port=nats_server.port)
        async with connect(settings) as session:
            end = await wait_for_event(session, lambda e: is_end(e) and e.run_id == run_id, 90)
            assert isinstance(end, RunFinished) and end.stats.created == 500, end
            # Every consumer works after the restart: a whole new run goes through.
            _, second = await asyncio.wait_for(follow_run(session, JOB_ID, None), 60)
            assert isinstance(second, RunFinished) and second.stats.unchanged == 500
    finally:
        stop.set()
        await asyncio.wait_for(services, 30)
    assert len(table(files.db)) == 500


async def test_a_silent_work_subscription_is_restarted(
    files: Files, settings: Settings, session: Session
) -> None:
    quick = msgspec.structs.replace(settings, liveness_interval=0.5)
    files.write(count=50)
    await apply_files(session, files)
    stop, ready = asyncio.Event(), asyncio.Event()
    host = ServiceHost(SERVICES, quick, settings.nats_url or "")
    task = asyncio.create_task(host.run(stop, ready))
    await started(task, ready)
    try:
        # Silence this process's work subscriptions the way lost pull requests would.
        for subscriber, spec in host.bus.watched:
            if spec.name == WORKER.name:
                await subscriber.stop()
        _, end = await asyncio.wait_for(follow_run(session, JOB_ID, None), 60)
        assert isinstance(end, RunFinished) and end.stats.created == 50
        info = await session.js.consumer_info(WORK, WORKER.name)
        assert info.num_pending == 0
    finally:
        stop.set()
        await asyncio.wait_for(task, 30)


@asynccontextmanager
async def all_services(settings: Settings) -> AsyncIterator[None]:
    """Every service, in this process, for the length of the block."""
    stop, ready = asyncio.Event(), asyncio.Event()
    task = asyncio.create_task(
        run_services(SERVICES, settings, settings.nats_url or "", stop, ready)
    )
    await started(task, ready)
    try:
        yield
    finally:
        stop.set()
        await asyncio.wait_for(task, 30)


async def wait_for_run(files: Files, settings: Settings, **env: str) -> tuple[Process, str]:
    """`idsync job run --wait` in a process of its own, once its run is planned."""
    async with connect(settings) as session:
        await apply_files(session, files)
        waiting = await asyncio.create_subprocess_exec(
            *IDSYNC,
            "job",
            "run",
            JOB_ID,
            "--wait",
            env=env_for(settings, **env),
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
        )
        planned = await wait_for_event(session, lambda e: isinstance(e, RunPlanned))
    return waiting, planned.run_id


async def test_job_run_wait_follows_its_run_through_a_server_restart(
    files: Files, settings: Settings, nats_server: EmbeddedNats, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("IDSYNC_SQLITE_BUSY_TIMEOUT", "60")  # the batch waits for the lock
    files.write(count=50)
    files.db.parent.mkdir(parents=True, exist_ok=True)
    async with all_services(settings):
        with locked(files.db):
            waiting, run_id = await wait_for_run(files, settings)
            await asyncio.to_thread(nats_server.stop)
        await asyncio.sleep(1.0)
        await asyncio.to_thread(nats_server.start, port=nats_server.port)
        out, err = await asyncio.wait_for(waiting.communicate(), 60)
    assert waiting.returncode == 0, err.decode()
    assert f"run {run_id} finished" in out.decode() and "50 created" in out.decode()


async def test_job_run_wait_gives_up_on_a_server_that_stays_away_with_exit_3(
    files: Files, settings: Settings, nats_server: EmbeddedNats, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("IDSYNC_SQLITE_BUSY_TIMEOUT", "60")
    files.write(count=50)
    files.db.parent.mkdir(parents=True, exist_ok=True)
    async with all_services(settings):
        with locked(files.db):
            waiting, run_id = await wait_for_run(files, settings, IDSYNC_WAIT_RECONNECT="1")
            await asyncio.to_thread(nats_server.stop)
            try:
                _, err = await asyncio.wait_for(waiting.communicate(), 30)
            finally:
                await asyncio.to_thread(nats_server.start, port=nats_server.port)
    assert waiting.returncode == 3, err.decode()
    said = err.decode()
    assert "lost the NATS server" in said and f"`idsync run show {run_id}`" in said


async def test_tail_follows_the_journal_through_a_server_restart(
    files: Files, settings: Settings, nats_server: EmbeddedNats
) -> None:
    files.write(count=3)
    async with all_services(settings):
        async with connect(settings) as session:
            await apply_files(session, files)
        tailing = await asyncio.create_subprocess_exec(
            *IDSYNC, "tail", env=env_for(settings), stdout=subprocess.PIPE, stderr=subprocess.PIPE
        )
        assert tailing.stderr is not None and tailing.stdout is not None
        assert b"following" in await asyncio.wait_for(tailing.stderr.readline(), 20)
        await asyncio.to_thread(nats_server.stop)
        lost = await asyncio.wait_for(tailing.stderr.readline(), 20)
        await asyncio.to_thread(nats_server.start, port=nats_server.port)
        back = await asyncio.wait_for(tailing.stderr.readline(), 30)
        run_id, end = await run_once_the_services_answer(settings)
        line = b""
        while run_id.encode() not in line or b"run.finished" not in line:
            line = await asyncio.wait_for(tailing.stdout.readline(), 30)
        tailing.terminate()
        await tailing.wait()
    assert b"lost the NATS server" in lost and b"the NATS server is back" in back
    assert isinstance(end, RunFinished)


async def run_once_the_services_answer(settings: Settings) -> tuple[str, Event]:
    """A run followed to its end, asked for again while the services reconnect."""
    for _ in range(100):
        try:
            async with connect(settings) as session:
                return await follow_run(session, JOB_ID, None)
        except Unreachable:
            await asyncio.sleep(0.2)
    raise AssertionError("the services did not answer again after the server came back")
