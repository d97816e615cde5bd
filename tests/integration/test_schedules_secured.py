"""Schedules on a server with users: the scheduler, as its own user, keeps its bucket
and asks for runs that every service carries out; people list the schedules and turn
them off with the command, under the job's ownership."""

from __future__ import annotations

import json

from schemas.events import RunFinished, RunRequested
from services.common.settings import Settings

from .conftest import JOB_ID, Files
from .journal import wait_for_event
from .secured import Running, person
from .test_cli_secured import idsync


async def test_a_scheduled_run_goes_through_every_service_as_its_own_user(
    files: Files, secure: Settings, secured_services: Running
) -> None:
    files.write(count=4, schedule="2s", extra='owners = ["alice"]', owners=["alice"])
    async with secured_services():
        for what in ("connection", "job"):
            path = files.connections if what == "connection" else files.job
            applied = await idsync(secure, "alice", what, "apply", str(path))
            assert applied.returncode == 0, applied.stderr
        async with person(secure, "bob") as bob:
            requested = await wait_for_event(bob, lambda e: isinstance(e, RunRequested))
            assert isinstance(requested, RunRequested) and requested.trigger == "schedule"
            ended = await wait_for_event(
                bob, lambda e: isinstance(e, RunFinished) and e.run_id == requested.run_id
            )
            assert ended.job_id == JOB_ID

        listed = await idsync(secure, "bob", "schedule", "list", "--json")
        assert listed.returncode == 0, listed.stderr
        [row] = json.loads(listed.stdout)
        assert row["last_outcome"] in ("requested", "skipped", "claimed")

        refused = await idsync(secure, "dave", "schedule", "disable", JOB_ID, "every")
        assert refused.returncode == 2 and "owned by alice" in refused.stderr
        off = await idsync(secure, "alice", "schedule", "disable", JOB_ID, "every")
        assert off.returncode == 0, off.stderr
        [row] = json.loads((await idsync(secure, "bob", "schedule", "list", "--json")).stdout)
        assert (row["enabled"], row["next_fire"]) == (False, None)
