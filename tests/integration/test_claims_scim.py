"""A SCIM push (`?wait=`) while a run of its job goes on: its run waits its turn, the
answer says the records are pending (not a false outcome), and the pushed change is
applied once the run going on has ended."""

from __future__ import annotations

from pathlib import Path

import httpx
import msgspec

from schemas.events import RunAwaitingApproval
from services.cli.client import Session, connect
from services.common import users
from services.common.settings import Settings

from .journal import wait_for_event
from .ldap_helpers import define
from .test_claims import APPROVAL, of, queued
from .test_scim_endpoint import (
    CONNECTIONS,
    JOB,
    JOB_TOML,
    endpoint,
    endpoint_settings,
    person_of,
    rows,
    until_ended,
)

__all__ = ["endpoint_settings"]  # the fixture, from the SCIM endpoint's tests


async def test_a_push_while_a_run_of_its_job_goes_on_is_pending_then_applied_in_turn(
    endpoint_settings: Settings, tmp_path: Path, session: Session
) -> None:
    token = users.add_person(endpoint_settings.home, "crm", [], system=True)
    folder = tmp_path / "job"
    job = JOB_TOML.replace("\n[[objects]]", f"{APPROVAL}\n[[objects]]", 1)  # manual runs wait
    await define(session, folder, CONNECTIONS, job)
    async with endpoint(endpoint_settings) as root:
        base = f"{root}/scim/{JOB}/v2"
        going = await session.request_run(JOB)
        await wait_for_event(session, of(RunAwaitingApproval, going), 10)  # it holds the job
        headers = {"Authorization": f"Bearer crm:{token}"}
        async with httpx.AsyncClient(headers=headers, timeout=30) as http:
            user = person_of(1).model_dump(mode="json", exclude_none=True, by_alias=True)
            answer = await http.post(f"{base}/Users?wait=1", json=user)
            assert answer.status_code == 202, answer.text  # pending: not applied yet
            run_url = answer.headers["Location"]
            pushed = run_url.rsplit("/", 1)[1]
            await queued(session, pushed, going)
            async with connect(msgspec.structs.replace(endpoint_settings, principal="bob")) as bob:
                await bob.decide("approve", going)
            status = await until_ended(http, run_url)
    assert status["state"] == "finished", status
    # The run going on planned once approved, after the push: it created the user, and
    # the pushed run, planned after it, found it as pushed.
    assert [(r["key"], r["status"]) for r in status["Resources"]] == [("E00001", "unchanged")]
    assert rows(folder)["E00001"][1] == "crm.user1"
