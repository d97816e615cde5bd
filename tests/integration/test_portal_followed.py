"""The portal reads the jobs and connections once and then follows their buckets: a job
added, changed or deleted — by the portal, by the command line, anywhere — is on the very
next page, with no read of the whole bucket per request. Its runs come from the recorder,
and from the journal when no recorder answers."""

from __future__ import annotations

import msgspec
import pytest

from schemas.events import is_end
from services.common.definitions import load_connections, load_job
from services.common.jetstream import JOBS_BUCKET
from services.common.settings import Settings

from .conftest import JOB_ID, Files
from .journal import wait_for_event
from .portal import portal_running, signed_in
from .secured import Running, person, raw_client


@pytest.fixture
def secure(secure: Settings) -> Settings:
    """The secured server's settings, with the portal on a free port."""
    return msgspec.structs.replace(secure, portal_port=0)


async def test_a_job_added_changed_or_deleted_is_on_the_next_page(
    files: Files, secure: Settings, secured_services: Running
) -> None:
    files.write(count=3, owners=["alice"], extra='owners = ["alice"]\n')
    job = load_job(files.job)
    async with portal_running(secured_services), signed_in(secure, "alice") as alice:
        assert (await alice.get("/api/jobs")).json() == []  # read once: the watch starts
        assert (await alice.get("/api/connections")).json() == []
        async with person(secure, "alice") as cli:  # applied elsewhere: the command line
            await cli.apply_connections(load_connections(files.connections))
            await cli.apply_job(job)
        listed = (await alice.get("/api/jobs")).json()
        assert [(j["id"], j["title"]) for j in listed] == [(JOB_ID, job.display_title)]
        assert sorted(c["id"] for c in (await alice.get("/api/connections")).json()) == [
            "db",
            "hr",
        ]
        assert JOB_ID in (await alice.get("/")).text

        renamed = msgspec.structs.replace(job, title="Renamed people job")
        body = msgspec.json.encode(renamed)
        put = await alice.send("PUT", f"/api/jobs/{JOB_ID}", content=body)
        assert put.status_code == 200, put.text
        assert [j["title"] for j in (await alice.get("/api/jobs")).json()] == ["Renamed people job"]
        assert "Renamed people job" in (await alice.get("/")).text

        copy = msgspec.structs.replace(job, id="people-copy", title="A copy")
        async with person(secure, "alice") as cli:
            await cli.apply_job(copy)
        assert [j["id"] for j in (await alice.get("/api/jobs")).json()] == [JOB_ID, "people-copy"]

        deleted = await alice.send("DELETE", f"/api/jobs/{JOB_ID}")
        assert deleted.status_code == 200, deleted.text
        assert [j["id"] for j in (await alice.get("/api/jobs")).json()] == ["people-copy"]
        page = (await alice.get("/")).text
        assert "people-copy" in page and f"/jobs/{JOB_ID}/edit" not in page
        wizard = (await alice.get("/jobs/new")).text
        assert 'value="hr"' in wizard and 'value="db"' in wizard


async def test_a_watch_lost_on_the_server_is_started_again_and_misses_nothing(
    files: Files, secure: Settings, secured_services: Running
) -> None:
    files.write(count=3, owners=["alice"], extra='owners = ["alice"]\n')
    job = load_job(files.job)
    async with portal_running(secured_services), signed_in(secure, "alice") as alice:
        assert (await alice.get("/api/jobs")).json() == []
        nc, _ = await raw_client(secure, "workflow")  # may manage consumers
        try:
            js = nc.jetstream()
            stream = f"KV_{JOBS_BUCKET}"
            watches = [c.name for c in await js.consumers_info(stream)]
            assert watches, "the portal follows the jobs bucket with a consumer"
            for name in watches:
                await js.delete_consumer(stream, name)
        finally:
            await nc.close()
        async with person(secure, "alice") as cli:
            await cli.apply_connections(load_connections(files.connections))
            await cli.apply_job(job)
        assert [j["id"] for j in (await alice.get("/api/jobs")).json()] == [JOB_ID]


async def test_without_a_recorder_the_runs_come_from_the_journal(
    files: Files, secure: Settings, secured_services: Running
) -> None:
    files.write(count=3, owners=["alice"], extra='owners = ["alice"]\n')
    async with secured_services("scheduler", "workflow", "runner", "portal"):
        async with person(secure, "alice") as cli:
            await cli.apply_connections(load_connections(files.connections))
            await cli.apply_job(load_job(files.job))
            run_id = await cli.request_run(JOB_ID)
            await wait_for_event(cli, lambda e: e.run_id == run_id and is_end(e))
        async with signed_in(secure, "alice") as alice:
            listed = (await alice.get("/api/runs")).json()
            story = (await alice.get(f"/api/runs/{run_id}")).json()
            jobs = (await alice.get("/api/jobs")).json()
            dashboard = (await alice.get("/")).text
            page = await alice.get(f"/runs/{run_id}")
    assert [(r["run_id"], r["state"]) for r in listed] == [(run_id, "finished")]
    assert story["state"] == "finished" and story["stats"]["created"] == 3
    assert jobs[0]["last_run"]["run_id"] == run_id
    assert f'href="/runs/{run_id}"' in dashboard
    assert page.status_code == 200 and "finished" in page.text
