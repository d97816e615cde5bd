"""Leavers pushed over SCIM, through every service: a burst of 500 users pushed with
`"active": false` to a job whose leavers are deleted meets the job's safety limits like
any run — it waits for approval, deleting nobody, and the pushing system is told
`pending`, not done."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import httpx

from services.cli.client import Session
from services.common import users
from services.common.settings import Settings

from .ldap_helpers import define
from .test_scim_endpoint import (
    CONNECTIONS,
    JOB,
    JOB_TOML,
    endpoint,
    endpoint_settings,
    rows,
    until_ended,
)
from .test_scim_endpoint_access import user_json

__all__ = ["endpoint_settings"]
LEAVERS = JOB_TOML.replace(
    'on_destination_only = "delete"\n',
    'on_destination_only = "delete"\n'
    'leavers = { when = { field = "active", equals = ["false"] }, action = "delete" }\n',
)
COUNT = 500


def bulk_of(people: list[dict[str, Any]]) -> dict[str, Any]:
    return {
        "schemas": ["urn:ietf:params:scim:api:messages:2.0:BulkRequest"],
        "Operations": [
            {"method": "POST", "bulkId": f"b{n}", "path": "/Users", "data": user}
            for n, user in enumerate(people)
        ],
    }


async def test_a_burst_of_leavers_waits_for_approval_and_deletes_nobody(
    endpoint_settings: Settings, tmp_path: Path, session: Session
) -> None:
    token = users.add_person(endpoint_settings.home, "crm", [], system=True)
    folder = tmp_path / "job"
    await define(session, folder, CONNECTIONS, LEAVERS)
    headers = {"Authorization": f"Bearer crm:{token}"}
    async with (
        endpoint(endpoint_settings) as root,
        httpx.AsyncClient(headers=headers, timeout=60) as http,
    ):
        base = f"{root}/scim/{JOB}/v2"
        made = await http.post(
            f"{base}/Bulk?wait=60", json=bulk_of([user_json(n) for n in range(COUNT)])
        )
        assert {op["status"] for op in made.json()["Operations"]} == {"201"}, made.text[:500]
        assert len(rows(folder)) == COUNT

        leavers = []
        for n in range(COUNT):
            user = user_json(n)
            user["active"] = False
            leavers.append(user)
        answer = await http.post(f"{base}/Bulk?wait=60", json=bulk_of(leavers))
        operations = answer.json()["Operations"]
        assert {op["status"] for op in operations} == {"202"}, operations[:3]
        run_url = operations[0]["location"].rsplit("/Users/", 1)[0]
        held = await until_ended(http, run_url)
        assert held["state"] == "awaiting approval", held["state"]
        assert "exceed the limit" in held["reason"], held["reason"]
        assert {r["status"] for r in held["Resources"]} == {"pending"}
        assert len(rows(folder)) == COUNT

        # A push meanwhile waits its turn behind the held run: told pending, not done.
        newcomer = user_json(COUNT + 1)
        queued = await http.post(f"{base}/Users?wait=1", json=newcomer)
        assert queued.status_code == 202, queued.text
        queued_url = queued.headers["location"]
        waiting = (await http.get(queued_url)).json()
        assert waiting["state"] == f"waiting: run {run_url.rsplit('/', 1)[1]}", waiting
        assert [r["status"] for r in waiting["Resources"]] == ["pending"]

        await session.decide("deny", run_url.rsplit("/", 1)[1])
        denied = await until_ended(http, run_url)
        assert denied["state"] == "denied"
        assert {r["status"] for r in denied["Resources"]} == {"not applied"}
        after = await until_ended(http, queued_url)
        while after["state"].startswith("waiting"):
            await asyncio.sleep(0.1)
            after = await until_ended(http, queued_url)
        assert after["state"] == "finished", after
        assert [r["status"] for r in after["Resources"]] == ["created"]
    assert len(rows(folder)) == COUNT + 1
