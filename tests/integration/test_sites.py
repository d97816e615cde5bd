"""A runner in a remote site: attached only to the site's leaf node, it alone plans and
applies the runs of a job whose destination lives in its site; a site without a runner
leaves its runs waiting, saying so; the leaf's link to the hub cut mid-run and restored
changes nothing twice.

The hub runs the workflow and a central runner; the leaf node has no JetStream of its
own and reaches the hub's through its domain (IDSYNC_JS_DOMAIN)."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import msgspec
import pytest

from core.runs import fold
from schemas.events import (
    RunBatchApplied,
    RunFinished,
    RunPlanned,
    RunStarted,
    RunWaitingForSite,
    is_end,
)
from services.cli.client import connect
from services.common.host import ServiceHost, run_services
from services.common.jetstream import site_consumers
from services.common.runners import runners
from services.common.service_names import SERVICES
from services.common.settings import Settings
from tests.nats_sites import DOMAIN, Site

from .conftest import CONNECTIONS, JOB_ID, Files, apply_files, started
from .history import recorded
from .journal import events_of_run, wait_for_event
from .secured import Running, person
from .test_cli_secured import idsync
from .test_delivery import locked
from .test_scale_out import counted_destination, expected_rows, rows, writes_per_key

SITE = "branch"
RECORDS = 1_000


@pytest.fixture
def hub_settings(site: Site, tmp_path: Path) -> Settings:
    return Settings(
        home=tmp_path / "home",
        nats_url=site.hub.url,
        principal="tester",
        runner_id="central-runner",
        ack_wait=5.0,
        max_deliver=20,
        retry_delay=0.5,
        liveness_interval=0.5,
    )


def in_site(settings: Settings, site: Site) -> Settings:
    """A runner of the site, connected to its leaf node only."""
    return msgspec.structs.replace(
        settings,
        nats_url=site.leaf.url,
        runner_id="branch-runner",
        site=SITE,
        js_domain=DOMAIN,
    )


@asynccontextmanager
async def hosted(settings: Settings, *names: str) -> AsyncIterator[ServiceHost]:
    stop, ready = asyncio.Event(), asyncio.Event()
    host = ServiceHost(names, settings, settings.nats_url or "")
    task = asyncio.create_task(host.run(stop, ready))
    await started(task, ready)
    try:
        yield host
    finally:
        stop.set()
        await asyncio.wait_for(task, 30)


def site_files(files: Files, count: int = RECORDS) -> list[dict[str, str]]:
    """The test job, its destination (the database) in the site."""
    people = files.write(count=count, batch_size=100)
    files.connections.write_text(
        CONNECTIONS.replace('provider = "sqlite"\n', f'provider = "sqlite"\nsite = "{SITE}"\n')
    )
    counted_destination(files.db)
    return people


async def finished_once(settings: Settings, files: Files, run_id: str, people: object) -> None:
    async with connect(settings) as session:
        end = await wait_for_event(session, lambda e: is_end(e) and e.run_id == run_id, 120)
        events = await events_of_run(session, run_id)
    assert isinstance(end, RunFinished) and end.stats.created == RECORDS, end
    assert rows(files.db) == expected_rows(people)  # type: ignore[arg-type]
    writes = writes_per_key(files.db)
    assert len(writes) == RECORDS and set(writes.values()) == {1}, "none written twice"
    assert {e.runner for e in events if isinstance(e, RunStarted)} == {"branch-runner"}
    assert {e.runner for e in events if isinstance(e, RunBatchApplied)} == {"branch-runner"}
    assert sum(isinstance(e, RunFinished) for e in events) == 1


async def test_a_job_whose_destination_is_in_a_site_is_applied_by_its_runner_alone(
    files: Files, hub_settings: Settings, site: Site
) -> None:
    people = site_files(files)
    async with (
        hosted(hub_settings, *SERVICES),  # the history and the mails take the new event
        hosted(in_site(hub_settings, site), "runner"),
    ):
        async with connect(hub_settings) as session:
            await apply_files(session, files)
            run_id = await session.request_run(JOB_ID)
        await finished_once(hub_settings, files, run_id, people)
        async with connect(hub_settings) as session:
            story = await recorded(session, run_id)
            sites = {r.runner_id: r.site for r in await runners(session.js)}
    assert sites == {"central-runner": "", "branch-runner": SITE}, "`idsync runner list`"
    assert story.state == "finished", story
    assert "run.waiting-for-site" in story.events, story.events


async def test_a_site_without_runners_leaves_its_run_waiting_until_one_starts(
    files: Files, hub_settings: Settings, site: Site
) -> None:
    people = site_files(files)
    async with hosted(hub_settings, "workflow", "runner"):
        async with connect(hub_settings) as session:
            await apply_files(session, files)
            run_id = await session.request_run(JOB_ID)
            await wait_for_event(
                session, lambda e: isinstance(e, RunWaitingForSite) and e.run_id == run_id
            )
            await asyncio.sleep(2 * hub_settings.ack_wait)  # nothing gives up on it
            (story,) = fold(await events_of_run(session, run_id))
        assert story.state == f"waiting: site {SITE}", story
        assert "waits for one of that site's runners" in story.reason
        async with hosted(in_site(hub_settings, site), "runner"):
            await finished_once(hub_settings, files, run_id, people)


async def test_the_leaf_link_cut_and_restored_mid_run_changes_nothing_twice(
    files: Files, hub_settings: Settings, site: Site, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("IDSYNC_SQLITE_BUSY_TIMEOUT", "60")  # a batch waits for the lock
    people = site_files(files)
    async with (
        hosted(hub_settings, "workflow", "runner"),
        hosted(in_site(hub_settings, site), "runner"),
    ):
        with locked(files.db):
            async with connect(hub_settings) as session:
                await apply_files(session, files)
                run_id = await session.request_run(JOB_ID)
                await wait_for_event(
                    session, lambda e: isinstance(e, RunPlanned) and e.run_id == run_id
                )
                _, work = site_consumers(SITE)
                deadline = time.monotonic() + 30
                while (await session.js.consumer_info(work.stream, work.name)).num_ack_pending < 1:
                    assert time.monotonic() < deadline, "the site's runner took no batch"
                    await asyncio.sleep(0.1)
            site.link.sever()
        # The runner writes what it holds, and cannot tell the hub for a while.
        await asyncio.sleep(3)
        assert site.hub.leaf_links() == 0
        site.link.mend()
        await asyncio.to_thread(site.wait_linked)
        await finished_once(hub_settings, files, run_id, people)


async def test_under_users_the_workflow_makes_a_sites_queues_and_its_runner_uses_them(
    files: Files, secure: Settings, secured_services: Running
) -> None:
    """With users and permissions: applying a connection that names a site makes that
    site's queues (the workflow alone may); the central runner hands the run over and the
    site's runner, which may not make queues, finds them. secured_services fails on any
    refusal the server logs. (Here the site's runner connects to the central server:
    the leaf is only its way in.)"""
    people = files.write(count=RECORDS, batch_size=100)
    files.connections.write_text(
        CONNECTIONS.replace('provider = "sqlite"\n', f'provider = "sqlite"\nsite = "{SITE}"\n')
    )
    counted_destination(files.db)
    in_branch = msgspec.structs.replace(secure, site=SITE, runner_id="branch-runner")
    async with secured_services("workflow", "runner"), person(secure, "alice") as alice:
        for what, path in (("connection", files.connections), ("job", files.job)):
            applied = await idsync(secure, "alice", what, "apply", str(path))
            assert applied.returncode == 0, applied.stderr
        for spec in site_consumers(SITE):
            await alice.js.consumer_info(spec.stream, spec.name)  # made, by the workflow
        run_id = await alice.request_run(JOB_ID)
        await wait_for_event(
            alice, lambda e: isinstance(e, RunWaitingForSite) and e.run_id == run_id
        )
        stop, ready = asyncio.Event(), asyncio.Event()
        task = asyncio.create_task(
            run_services(["runner"], in_branch, secure.nats_url or "", stop, ready)
        )
        try:
            await started(task, ready)
            end = await wait_for_event(alice, lambda e: is_end(e) and e.run_id == run_id, 60)
            events = await events_of_run(alice, run_id)
        finally:
            stop.set()
            await asyncio.wait_for(task, 30)
    assert isinstance(end, RunFinished) and end.stats.created == RECORDS, end
    assert rows(files.db) == expected_rows(people)
    assert {e.runner for e in events if isinstance(e, RunBatchApplied)} == {"branch-runner"}
