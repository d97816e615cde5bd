"""The SCIM endpoint's reach and its runs' approvals, through every service: a system
user's valid token pushes only to the jobs whose source lists it, and a pushed run that
the job's approval holds waits like any run, writing nothing until someone approves."""

from __future__ import annotations

import sqlite3
from pathlib import Path
from typing import Any

import httpx
import msgspec
import pytest
from scim2_models import Context

from services.cli.client import Session
from services.common import users
from services.common.settings import Settings

from .ldap_helpers import define
from .test_scim_endpoint import CONNECTIONS, JOB, JOB_TOML, endpoint, person_of, until_ended

OTHER_JOB = "other-to-db"
BOTH = (
    CONNECTIONS
    + """
[other-crm]
provider = "scim-inbound"
systems = ["other"]
"""
)
OTHER_TOML = (
    JOB_TOML.replace(f'id = "{JOB}"', f'id = "{OTHER_JOB}"')
    .replace('connection = "crm"', 'connection = "other-crm"')
    .replace('table = "people"', 'table = "others"')
)
HELD = JOB_TOML.replace(
    "\n[[objects]]",
    '\napproval = { approvers = ["tester"], required_for = ["external"] }\n\n[[objects]]',
)
CREATION = Context.RESOURCE_CREATION_REQUEST


@pytest.fixture
def endpoint_settings(settings: Settings) -> Settings:
    """The test's settings with the SCIM endpoint on a free port and short bursts."""
    return msgspec.structs.replace(settings, scim_port=0, merge_window=0.2)


def user_json(n: int) -> dict[str, Any]:
    found: dict[str, Any] = person_of(n).model_dump(scim_ctx=CREATION)
    return found


def table(folder: Path, name: str) -> list[str]:
    path = folder / "data" / "people.db"
    if not path.exists():
        return []
    with sqlite3.connect(path) as db:
        known = {r[0] for r in db.execute("SELECT name FROM sqlite_master WHERE type='table'")}
        found = (
            [r[0] for r in db.execute(f"SELECT employee_id FROM {name}")] if name in known else []
        )
    db.close()
    return sorted(found)


async def test_a_valid_token_pushes_only_to_the_jobs_of_its_own_system(
    endpoint_settings: Settings, tmp_path: Path, session: Session
) -> None:
    crm = users.add_person(endpoint_settings.home, "crm", [], system=True)
    other = users.add_person(endpoint_settings.home, "other", [], system=True)
    folder = tmp_path / "job"
    await define(session, folder, BOTH, JOB_TOML)
    await define(session, folder, BOTH, OTHER_TOML)  # the same database, its own table
    as_crm = {"Authorization": f"Bearer crm:{crm}"}
    as_other = {"Authorization": f"Bearer other:{other}"}
    async with endpoint(endpoint_settings) as root, httpx.AsyncClient(timeout=60) as http:
        crm_job, other_job = f"{root}/scim/{JOB}/v2", f"{root}/scim/{OTHER_JOB}/v2"
        pushed = await http.post(f"{crm_job}/Users?wait=30", json=user_json(1), headers=as_crm)
        assert pushed.status_code == 201, pushed.text
        run_url = pushed.headers["location"]

        # other's token is valid — its own job takes it — yet crm's job is not there for it.
        for url in (f"{crm_job}/Users", f"{crm_job}/Bulk"):
            body = user_json(2) if url.endswith("/Users") else {"Operations": []}
            refused = await http.post(url, json=body, headers=as_other)
            assert refused.status_code == 404, refused.text
            assert refused.json()["detail"] == f"no job {JOB!r} takes pushed records here"
        assert (await http.get(run_url, headers=as_other)).status_code == 404
        assert (await http.get(f"{crm_job}/ServiceProviderConfig", headers=as_other)).is_error
        # Nor is other's job there for crm.
        assert (await http.post(f"{other_job}/Users", json=user_json(3), headers=as_crm)).is_error

        own = await http.post(f"{other_job}/Users?wait=30", json=user_json(4), headers=as_other)
        assert own.status_code == 201, own.text
        shown = (await http.get(own.headers["location"], headers=as_other)).json()
        assert shown["state"] == "finished" and shown["job"] == OTHER_JOB
    assert table(folder, "people") == ["E00001"]  # nothing of other's pushes in crm's job
    assert table(folder, "others") == ["E00004"]


async def test_a_pushed_run_held_for_approval_writes_nothing_until_approved(
    endpoint_settings: Settings, tmp_path: Path, session: Session
) -> None:
    crm = users.add_person(endpoint_settings.home, "crm", [], system=True)
    folder = tmp_path / "job"
    await define(session, folder, CONNECTIONS, HELD)
    headers = {"Authorization": f"Bearer crm:{crm}"}
    async with (
        endpoint(endpoint_settings) as root,
        httpx.AsyncClient(headers=headers, timeout=60) as http,
    ):
        base = f"{root}/scim/{JOB}/v2"
        body = {
            "schemas": ["urn:ietf:params:scim:api:messages:2.0:BulkRequest"],
            "Operations": [
                {"method": "POST", "bulkId": f"b{n}", "path": "/Users", "data": user_json(n)}
                for n in range(3)
            ],
        }
        # Asked to wait, the answer comes once the run waits for someone: still pending.
        answer = (await http.post(f"{base}/Bulk?wait=30", json=body)).json()
        assert [op["status"] for op in answer["Operations"]] == ["202"] * 3, answer
        run_url = answer["Operations"][0]["location"].rsplit("/Users/", 1)[0]
        run_id = run_url.rsplit("/", 1)[1]
        held = await until_ended(http, run_url)
        assert held["state"] == "awaiting approval", held
        assert "tester" in held["reason"]
        assert {r["status"] for r in held["Resources"]} == {"pending"}
        assert table(folder, "people") == []

        await session.decide("approve", run_id)
        done = await until_ended(http, run_url)
        assert done["state"] == "finished" and done["stats"]["created"] == 3, done
        assert {r["status"] for r in done["Resources"]} == {"created"}
    assert table(folder, "people") == ["E00000", "E00001", "E00002"]
