"""A run of a job that lives in a site, waiting for one of the site's runners, keeps its
job: the runs asked for meanwhile wait behind it; cancelled, it lets the next one through
(which waits for the site in turn), and once the site's runner starts the job runs."""

from __future__ import annotations

import asyncio

from schemas.events import RunCancelled, RunWaitingForSite
from services.cli.client import connect
from services.common.claims import Claims
from services.common.settings import Settings
from tests.nats_sites import Site

from .conftest import JOB_ID, Files, apply_files
from .journal import wait_for_event
from .test_claims import end_of, finished, of, queued, story
from .test_scale_out import rows
from .test_sites import SITE, hosted, hub_settings, in_site, site_files

__all__ = ["hub_settings"]  # the fixture, from the sites' tests


async def test_a_run_waiting_for_its_sites_runner_holds_its_job_until_cancelled(
    files: Files, hub_settings: Settings, site: Site
) -> None:
    site_files(files, count=5)
    async with (
        hosted(hub_settings, "workflow", "runner"),
        connect(hub_settings) as session,
    ):
        await apply_files(session, files)
        first = await session.request_run(JOB_ID)
        await wait_for_event(session, of(RunWaitingForSite, first), 10)
        second = await session.request_run(JOB_ID)
        await queued(session, second, first)
        await session.decide("cancel", first)
        await wait_for_event(session, of(RunWaitingForSite, second), 10)  # its turn
        assert (await story(session, second)).state == f"waiting: site {SITE}"
        await session.decide("cancel", second)
        assert isinstance(await wait_for_event(session, end_of(second), 10), RunCancelled)
        claim = await Claims(session.js).get(JOB_ID)
        for _ in range(50):
            claim = await Claims(session.js).get(JOB_ID)
            if claim is not None and not claim.runs:
                break
            await asyncio.sleep(0.1)  # its end, seen by the workflow
        assert claim is not None and claim.runs == [], claim
        async with hosted(in_site(hub_settings, site), "runner"):
            end = await finished(session, await session.request_run(JOB_ID))
    assert end.stats.created == 5 and len(rows(files.db)) == 5
