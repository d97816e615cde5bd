"""idsync as a SCIM endpoint, through every service: another system pushes users with a SCIM
client library (scim2-client), they become a run of the job that reads them, and each
record's outcome is asked for afterwards (or waited for)."""

from __future__ import annotations

import asyncio
import sqlite3
import time
from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from pathlib import Path
from typing import Any, cast

import httpx
import httpx2
import msgspec
import pytest
from scim2_client.engines.httpx2 import AsyncSCIMClient
from scim2_models import (
    BulkOperation,
    BulkRequest,
    BulkResponse,
    Context,
    Email,
    EnterpriseUser,
    Name,
    Resource,
    User,
)

from services.cli.client import Session
from services.common import credentials, users
from services.common.definitions import load_connections, load_job
from services.common.host import run_services
from services.common.service_names import SERVICES
from services.common.settings import Settings
from services.scim_endpoint.outcomes import ENDED

from .conftest import started
from .ldap_helpers import define
from .secured import Running, person

JOB = "crm-to-db"
ENTERPRISE = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"
CONNECTIONS = """\
[crm]
provider = "scim-inbound"
systems = ["crm"]

[db]
provider = "sqlite"
path = "data/people.db"
"""
JOB_TOML = f"""\
id = "{JOB}"
source = {{ connection = "crm" }}
destination = {{ connection = "db", table = "people" }}

[[objects]]
keys = ["employee_id"]
on_destination_only = "delete"
fields = [
  {{ to = "employee_id", from = "externalId" }},
  {{ to = "login", from = "userName" }},
  {{ to = "given_name", from = "name.givenName" }},
  {{ to = "mail", from = 'emails[type eq "work"].value' }},
  {{ to = "department", from = "{ENTERPRISE}:department" }},
  {{ to = "active" }},
]
"""
Pusher = Callable[[], AbstractAsyncContextManager[tuple[AsyncSCIMClient, httpx.AsyncClient]]]


@pytest.fixture
def endpoint_settings(settings: Settings) -> Settings:
    """The test's settings with the SCIM endpoint on a free port and short bursts."""
    return msgspec.structs.replace(settings, scim_port=0, merge_window=0.2)


@asynccontextmanager
async def endpoint(settings: Settings) -> AsyncIterator[str]:
    """Every service and the SCIM endpoint in this process; the endpoint's base URL."""
    stop, ready = asyncio.Event(), asyncio.Event()
    names = (*SERVICES, "scim_endpoint")
    task = asyncio.create_task(run_services(names, settings, settings.nats_url or "", stop, ready))
    await started(task, ready)
    try:
        deadline = time.monotonic() + 30
        while not (settings.home / "scim.url").is_file():
            assert time.monotonic() < deadline, "the SCIM endpoint wrote no scim.url"
            await asyncio.sleep(0.05)
        yield (settings.home / "scim.url").read_text().strip()
    finally:
        stop.set()
        await asyncio.wait_for(task, 20)


def person_of(n: int, department: str = "Sales") -> User[EnterpriseUser]:
    user = User[EnterpriseUser](
        user_name=f"crm.user{n}",
        external_id=f"E{n:05d}",
        name=Name(given_name=f"Given{n}"),
        emails=[Email(value=f"user{n}@example.org", type=Email.Type.work)],
        active=True,
    )
    user[EnterpriseUser] = EnterpriseUser(department=department)
    return user


def bulk(people: list[User[EnterpriseUser]]) -> BulkRequest[Resource[Any]]:
    operations = [
        BulkOperation[User[EnterpriseUser]](
            method=BulkOperation.Method.post, bulk_id=f"b{n}", path="/Users", data=user
        )
        for n, user in enumerate(people)
    ]
    return cast(
        "BulkRequest[Resource[Any]]",
        BulkRequest[User[EnterpriseUser]].model_validate({"Operations": operations}),
    )


async def until_ended(http: httpx.AsyncClient, location: str) -> dict[str, Any]:
    """The run's status once it has ended or waits for an approval — not while it is
    asked for, planned or applied, nor while it waits its turn ("waiting: run R")."""
    for _ in range(600):
        status: dict[str, Any] = (await http.get(location)).json()
        if status["state"] in ENDED or status["state"] == "awaiting approval":
            return status
        await asyncio.sleep(0.1)
    raise AssertionError(f"the run did not end: {status}")


def rows(folder: Path) -> dict[str, tuple[str, ...]]:
    with sqlite3.connect(folder / "data" / "people.db") as db:
        found = db.execute(
            "SELECT employee_id, login, given_name, mail, department, active FROM people"
        ).fetchall()
    db.close()
    return {row[0]: row for row in found}


async def test_a_bulk_of_1000_users_becomes_a_run_and_each_record_has_its_outcome(
    endpoint_settings: Settings, tmp_path: Path, session: Session
) -> None:
    token = users.add_person(endpoint_settings.home, "crm", [], system=True)
    users.add_person(endpoint_settings.home, "other", [], system=True)
    folder = tmp_path / "job"
    await define(session, folder, CONNECTIONS, JOB_TOML)
    async with endpoint(endpoint_settings) as root:
        base = f"{root}/scim/{JOB}/v2"
        headers = {"Authorization": f"Bearer crm:{token}"}
        async with (
            httpx2.AsyncClient(base_url=base, headers=headers, timeout=60) as raw,
            httpx.AsyncClient(headers=headers, timeout=30) as http,
        ):
            scim = AsyncSCIMClient(raw, resource_models=[User[EnterpriseUser]])
            answer = await scim.bulk(bulk([person_of(n) for n in range(1000)]))
            assert isinstance(answer, BulkResponse)
            operations = answer.operations or []
            assert [op.status for op in operations] == [202] * 1000
            assert {op.bulk_id for op in operations} == {f"b{n}" for n in range(1000)}
            run_url = str(operations[0].location).rsplit("/Users/", 1)[0]

            status = await until_ended(http, run_url)
            assert status["state"] == "finished" and status["stats"]["created"] == 1000, status[
                "stats"
            ]
            assert {r["status"] for r in status["Resources"]} == {"created"}
            assert len(status["Resources"]) == 1000
            one = (await http.get(str(operations[7].location))).json()
            assert (one["key"], one["status"]) == ("E00007", "created")
            assert rows(folder)["E00007"] == (
                "E00007",
                "crm.user7",
                "Given7",
                "user7@example.org",
                "Sales",
                "true",
            )

            # Another push, answered once its run has ended: the changed user updated, the
            # unchanged one left alone, one without any key refused at once.
            changed = person_of(3, department="Legal").model_dump(
                scim_ctx=Context.RESOURCE_CREATION_REQUEST
            )
            same = person_of(4).model_dump(scim_ctx=Context.RESOURCE_CREATION_REQUEST)
            pushed = {
                "schemas": ["urn:ietf:params:scim:api:messages:2.0:BulkRequest"],
                "Operations": [
                    {"method": "POST", "bulkId": "x", "path": "/Users", "data": changed},
                    {"method": "PUT", "bulkId": "y", "path": "/Users/E00004", "data": same},
                    {"method": "POST", "bulkId": "z", "path": "/Users", "data": {"title": "?"}},
                ],
            }
            waited = (await http.post(f"{base}/Bulk?wait=30", json=pushed)).json()
            statuses = {op["bulkId"]: op["status"] for op in waited["Operations"]}
            assert statuses == {"x": "200", "y": "200", "z": "400"}, waited
            assert rows(folder)["E00003"][4] == "Legal"
            assert len(rows(folder)) == 1000  # a run scoped to the pushed users deletes nobody

            # Another system's token reaches none of this job.
            other = {"Authorization": "Bearer other:not-its-token"}
            refused = await http.post(f"{base}/Users", json=same, headers=other)
            assert refused.status_code == 404
            assert (await http.get(run_url, headers=other)).status_code == 404


async def test_a_push_on_a_server_with_users_and_permissions(
    secure: Settings, secured_services: Running, tmp_path: Path
) -> None:
    """The endpoint as its own NATS user (the one `idsync up` makes): it stores the push,
    asks for the run in crm's name and follows it; the runner reads the pushed records.
    The server refuses nothing any service does (secured_services checks its log)."""
    token = credentials.read_credentials(credentials.person_file(secure.home, "crm")).password
    folder = tmp_path / "job"
    (folder / "data").mkdir(parents=True)
    (folder / "connections.toml").write_text(CONNECTIONS)
    (folder / "job.toml").write_text(JOB_TOML)
    async with secured_services(*SERVICES, "scim_endpoint"), person(secure, "alice") as alice:
        await alice.apply_connections(load_connections(folder / "connections.toml"))
        await alice.apply_job(load_job(folder / "job.toml"))
        root = (secure.home / "scim.url").read_text().strip()
        headers = {"Authorization": f"Bearer {token}"}  # the password alone
        creation = Context.RESOURCE_CREATION_REQUEST
        async with httpx.AsyncClient(headers=headers, timeout=60) as http:
            answer = await http.post(
                f"{root}/scim/{JOB}/v2/Users?wait=30",
                json=person_of(7).model_dump(scim_ctx=creation),
            )
        assert answer.status_code == 201, answer.text
        assert answer.json()["id"] == "E00007"
    assert rows(folder)["E00007"][1] == "crm.user7"
