"""The NATS server goes away mid-run and comes back on the same store: every consumer
resumes; a subscription that went silent is restarted by the liveness check."""

from __future__ import annotations

import asyncio

import msgspec

from schemas.events import RunFinished, RunPlanned, is_end
from services.cli.client import Session, connect
from services.cli.watch import follow_run
from services.common.embedded import EmbeddedNats
from services.common.host import SERVICES, ServiceHost, run_services
from services.common.jetstream import WORK, WORKER
from services.common.settings import Settings

from .conftest import JOB_ID, Files, apply_files
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
    await asyncio.wait_for(ready.wait(), 20)
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
    await asyncio.wait_for(ready.wait(), 20)
    try:
        # Silence this process's work subscription the way a lost pull request would.
        subscriber = next(sub for sub, spec in host.bus.watched if spec.name == WORKER.name)
        await subscriber.stop()
        _, end = await asyncio.wait_for(follow_run(session, JOB_ID, None), 60)
        assert isinstance(end, RunFinished) and end.stats.created == 50
        info = await session.js.consumer_info(WORK, WORKER.name)
        assert info.num_pending == 0
    finally:
        stop.set()
        await asyncio.wait_for(task, 30)
