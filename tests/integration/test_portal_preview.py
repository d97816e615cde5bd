"""Previews from the portal, over HTTP with the services on the secured server: a runner
plans the job (the portal reads no data source) to the very plan `idsync job preview`
makes, a definition not yet saved is checked and planned, a changed filter's scope is
counted against the saved job, and roles decide who may preview."""

from __future__ import annotations

import asyncio
import json
from collections import Counter
from typing import Any

import msgspec
import pytest

from services.common.settings import Settings

from .conftest import JOB_ID, Files
from .portal import Signed, portal_running, signed_in
from .secured import Running, apply_as, person
from .test_cli_secured import idsync


@pytest.fixture
def secure(secure: Settings) -> Settings:
    """The secured server's settings, with the portal on a free port."""
    return msgspec.structs.replace(secure, portal_port=0)


async def finished(signed: Signed, run_id: str) -> None:
    async with asyncio.timeout(30):
        while (await signed.get(f"/api/runs/{run_id}")).json().get("state") != "finished":
            await asyncio.sleep(0.2)


def only(department: str) -> dict[str, Any]:
    return {"field": "department", "equals": department}


async def test_a_preview_from_the_portal_is_the_runs_plan_and_its_scope_is_counted(
    files: Files, secure: Settings, secured_services: Running
) -> None:
    rows = files.write(count=30, owners=["alice"], extra='owners = ["alice"]\n')
    by_department = Counter(row["department"] for row in rows)
    first, second = sorted(by_department)[:2]
    async with portal_running(secured_services):
        async with person(secure, "alice") as alice_cli:
            await apply_as(alice_cli, files)
        async with signed_in(secure, "alice") as alice:
            answer = await alice.send("POST", f"/api/jobs/{JOB_ID}/preview", params={"limit": 5})
            assert answer.status_code == 200, answer.text
            shown = answer.json()
            assert shown["counts"]["create"] == 30 and shown["source_records"] == 30
            assert [c["action"] for c in shown["changes"]] == ["create"] * 5
            assert not files.db.exists(), "a preview writes nothing"
            cli = await idsync(secure, "alice", "job", "preview", JOB_ID, "--json")
            assert cli.returncode == 0, cli.stderr
            assert shown["plan_hash"] == json.loads(cli.stdout)["plan_hash"]

            # The saved job keeps one department; a run writes it.
            job = (await alice.get(f"/api/jobs/{JOB_ID}")).json()
            job["source"]["where"] = only(first)
            assert (await alice.send("PUT", f"/api/jobs/{JOB_ID}", json=job)).status_code == 200
            asked = await alice.send("POST", "/api/runs", json={"job": JOB_ID})
            await finished(alice, asked.json()["run_id"])

            # Edited, not saved: the other department comes into scope, the first leaves.
            edited = {**job, "source": {**job["source"], "where": only(second)}}
            scoped = await alice.send(
                "POST", "/api/preview", params={"scope": "true", "limit": 3}, json=edited
            )
            assert scoped.status_code == 200, scoped.text
            scope = scoped.json()["scope"]
            assert (scope["entering"], scope["leaving"]) == (
                by_department[second],
                by_department[first],
            )
            wanted = {r["employee_id"] for r in rows if r["department"] == second}
            left = {r["employee_id"] for r in rows if r["department"] == first}
            assert set(scope["entering_sample"]) <= wanted
            assert len(scope["entering_sample"]) == min(3, len(wanted))
            assert set(scope["leaving_sample"]) <= left and scope["leaving_sample"]
            counts = scoped.json()["counts"]
            assert (counts["create"], counts["delete"]) == (len(wanted), len(left))
            stored = (await alice.get(f"/api/jobs/{JOB_ID}")).json()
            assert stored["source"]["where"] == only(first), "a preview stores nothing"
            same = await alice.send("POST", "/api/preview", params={"scope": "true"}, json=job)
            assert same.json()["scope"] == {
                "entering": 0,
                "leaving": 0,
                "entering_sample": [],
                "leaving_sample": [],
            }
            assert same.json()["counts"]["create"] == 0, "the saved job's data is written"

            # Bad input: said, and nothing planned or stored.
            cases: tuple[tuple[dict[str, Any], str], ...] = (
                ({**job, "batch_size": "many"}, "$.batch_size"),
                ({**job, "source": {**job["source"], "connection": "nowhere"}}, "nowhere"),
                ({**job, "source": {**job["source"], "where": {"field": "x"}}}, "where"),
            )
            for sent, words in cases:
                bad = await alice.send("POST", "/api/preview", json=sent)
                assert bad.status_code == 400 and words in bad.json()["detail"], bad.text
            missing = await alice.send("POST", "/api/jobs/nothing-here/preview")
            assert missing.status_code == 400 and "nothing-here" in missing.json()["detail"]
            limit = await alice.send("POST", f"/api/jobs/{JOB_ID}/preview", params={"limit": -1})
            assert limit.status_code == 400 and "query.limit" in limit.text


async def test_who_may_preview_is_the_workflows_decision(
    files: Files, secure: Settings, secured_services: Running
) -> None:
    files.write(count=5, owners=["alice"], extra='owners = ["alice"]\n')
    async with portal_running(secured_services):
        async with person(secure, "alice") as alice_cli:
            await apply_as(alice_cli, files)
        async with signed_in(secure, "alice") as alice, signed_in(secure, "dave") as dave:
            before = await dave.send("POST", f"/api/jobs/{JOB_ID}/preview")
            assert before.status_code == 200, "no role granted yet: everyone may"
            granted = await alice.send(
                "POST", "/api/roles/administrator/grant", json={"grantee": "alice"}
            )
            assert granted.status_code == 200, granted.text
            refused = await dave.send("POST", f"/api/jobs/{JOB_ID}/preview")
            assert refused.status_code == 403 and "jobs.preview" in refused.json()["detail"]
            job = (await alice.get(f"/api/jobs/{JOB_ID}")).json()
            unsaved = await dave.send("POST", "/api/preview", json=job)
            assert unsaved.status_code == 403
            await alice.send("POST", "/api/roles/operator/grant", json={"grantee": "dave"})
            allowed = await dave.send("POST", f"/api/jobs/{JOB_ID}/preview")
            assert allowed.status_code == 200 and allowed.json()["counts"]["create"] == 5
