"""The portal's HTTP API over HTTP, with the services on the secured server: people sign
in with their own accounts, and the workflow decides what each may do — the portal asks
in their name, as the command line does."""

from __future__ import annotations

import asyncio
import csv
import io
import json
from typing import Any

import httpx
import msgspec
import pytest

from services.common.people import write_csv
from services.common.settings import Settings

from .conftest import JOB_ID, Files
from .portal import Signed, password_of, portal_running, portal_url, signed_in
from .secured import APPROVAL, Running, apply_as, person


@pytest.fixture
def secure(secure: Settings) -> Settings:
    """The secured server's settings, with the portal on a free port."""
    return msgspec.structs.replace(secure, portal_port=0)


async def wait_state(
    signed: Signed, run_id: str, wanted: set[str], seconds: float = 30
) -> dict[str, Any]:
    """The run's story once its state is one of `wanted`."""
    async with asyncio.timeout(seconds):
        while True:
            answer = await signed.get(f"/api/runs/{run_id}")
            if answer.status_code == 200 and answer.json()["state"] in wanted:
                found: dict[str, Any] = answer.json()
                return found
            await asyncio.sleep(0.2)


async def test_signing_in_refuses_wrong_passwords_then_slows_down(
    secure: Settings, secured_services: Running
) -> None:
    async with portal_running(secured_services):
        async with httpx.AsyncClient(base_url=portal_url(secure)) as client:
            assert (await client.get("/api/jobs")).status_code == 401
            for _ in range(5):
                wrong = await client.post("/api/signin", json={"user": "bob", "password": "x"})
                assert wrong.status_code == 401
                assert wrong.json()["detail"] == "wrong name or password"
            right = {"user": "bob", "password": password_of(secure, "bob")}
            slowed = await client.post("/api/signin", json=right)
            assert slowed.status_code == 429 and "too many failed sign-ins" in slowed.text
            assert int(slowed.headers["retry-after"]) > 0
            empty = await client.post("/api/signin", json={"user": "carol"})
            assert empty.status_code == 400 and "body.password: Field required" in empty.text
        async with signed_in(secure, "carol") as carol:
            me = (await carol.get("/api/me")).json()
            assert me["principal"] == "carol" and me["via"] == "local"
            assert (await carol.send("POST", "/api/signout")).status_code == 204
            assert (await carol.get("/api/me")).status_code == 401


async def test_a_run_asked_for_approved_by_another_and_reviewed(
    files: Files, secure: Settings, secured_services: Running
) -> None:
    files.write(count=20, extra=APPROVAL, owners=["alice"])
    async with portal_running(secured_services):
        async with person(secure, "alice") as alice_cli:
            await apply_as(alice_cli, files)
        async with signed_in(secure, "alice") as alice, signed_in(secure, "bob") as bob:
            no_csrf = await alice.client.post("/api/runs", json={"job": JOB_ID})
            assert no_csrf.status_code == 403 and "CSRF" in no_csrf.text
            assert (await alice.get("/api/runs")).json() == [], "a refused request asks nothing"

            asked = await alice.send("POST", "/api/runs", json={"job": JOB_ID})
            assert asked.status_code == 202, asked.text
            run_id = asked.json()["run_id"]
            assert asked.json()["waits_for"] == ["bob", "carol"]
            await wait_state(alice, run_id, {"awaiting approval"})

            mine = (await alice.get("/api/approvals")).json()
            assert mine == [], "nobody approves their own request"
            own = await alice.send("POST", f"/api/runs/{run_id}/approve", json={"reason": "me"})
            assert own.status_code == 403 and "alice" in own.json()["detail"]
            async with signed_in(secure, "dave") as dave:
                refused = await dave.send("POST", f"/api/runs/{run_id}/approve", json={})
                assert refused.status_code == 403, refused.text
            listed = (await bob.get("/api/approvals")).json()
            assert [entry["run_id"] for entry in listed] == [run_id]

            approved = await bob.send(
                "POST", f"/api/runs/{run_id}/approve", json={"reason": "looks right"}
            )
            assert approved.status_code == 200, approved.text
            story = await wait_state(alice, run_id, {"finished", "finished with errors", "failed"})
            assert story["state"] == "finished" and story["stats"]["created"] == 20
            assert story["approved_by"] == "bob"

            plan = (await bob.get(f"/api/runs/{run_id}/plan")).json()
            assert [row["action"] for row in plan["rows"]] == ["create"] * 20 * 6

            async with asyncio.timeout(30):
                while (review := await bob.get(f"/api/runs/{run_id}/review")).status_code != 200:
                    await asyncio.sleep(0.2)
                while len((await bob.get(f"/api/runs/{run_id}/review")).json()["changes"]) < 20:
                    await asyncio.sleep(0.2)
            report = await bob.get(f"/api/runs/{run_id}/changes.csv")
            assert report.headers["content-type"].startswith("text/csv")
            table = list(csv.DictReader(io.StringIO(report.text)))
            assert {row["key"] for row in table} == {f"E{n:06d}" for n in range(1, 21)}
            key = table[0]["key"]
            history = (await bob.get("/api/history", params={"key": key})).json()
            assert {row["run_id"] for row in history} == {run_id}
            why = await bob.get(
                "/api/history/why", params={"job": JOB_ID, "key": key, "field": "mail"}
            )
            assert why.status_code == 200, why.text
            assert why.json()["run_id"] == run_id and why.json()["source_field"] == "email"
            assert review.json()["run"]["run_id"] == run_id


async def test_bad_input_is_refused_with_its_place_and_nothing_stored(
    files: Files, secure: Settings, secured_services: Running
) -> None:
    files.write(count=5, owners=["alice"], extra='owners = ["alice"]\n')
    async with portal_running(secured_services):
        async with person(secure, "alice") as alice_cli:
            await apply_as(alice_cli, files)
        async with signed_in(secure, "alice") as alice, signed_in(secure, "dave") as dave:
            job = (await alice.get(f"/api/jobs/{JOB_ID}")).json()
            broken = {**job, "batch_size": "many"}
            answer = await alice.send("PUT", f"/api/jobs/{JOB_ID}", json=broken)
            assert answer.status_code == 400
            assert "$.batch_size" in answer.json()["detail"], answer.text
            other = await alice.send("PUT", "/api/jobs/elsewhere", json=job)
            assert other.status_code == 400 and "not 'elsewhere'" in other.json()["detail"]
            retitled = {**job, "title": "dave was here"}
            refused = await dave.send("PUT", f"/api/jobs/{JOB_ID}", json=retitled)
            assert refused.status_code == 403 and "owned by alice" in refused.json()["detail"]
            assert (await alice.get(f"/api/jobs/{JOB_ID}")).json() == job, "nothing stored"
            missing = await alice.get("/api/jobs/nothing-here")
            assert missing.status_code == 404
            forged = await alice.client.post(f"/jobs/{JOB_ID}/run", data={"csrf": "guessed"})
            assert forged.status_code == 403 and "CSRF" in forged.text, "a form needs its token"
            unknown = await alice.send("POST", "/api/runs", json={"job": "nothing-here"})
            assert unknown.status_code == 400 and "nothing-here" in unknown.json()["detail"]
            assert (await alice.get("/api/runs")).json() == []
            bad_limit = await alice.get("/api/runs", params={"limit": 0})
            assert bad_limit.status_code == 400 and "query.limit" in bad_limit.text
            connections = await alice.get("/api/connections")
            assert sorted(c["id"] for c in connections.json()) == ["db", "hr"]
            assert "password" not in json.dumps(connections.json())


async def test_a_system_signs_in_by_token_and_a_wrong_token_is_refused(
    files: Files, secure: Settings, secured_services: Running
) -> None:
    files.write(count=5)
    async with portal_running(secured_services):
        base = portal_url(secure)
        token = f"crm:{password_of(secure, 'crm')}"
        async with httpx.AsyncClient(base_url=base) as client:
            good = await client.get("/api/me", headers={"authorization": f"Bearer {token}"})
            assert good.status_code == 200 and good.json()["principal"] == "crm"
            assert good.json()["via"] == "token"
            bad = await client.get("/api/me", headers={"authorization": "Bearer crm:nope"})
            assert bad.status_code == 403 and "no system user's" in bad.json()["detail"]
            person_password = password_of(secure, "bob")
            as_person = await client.get(
                "/api/me", headers={"authorization": f"Bearer bob:{person_password}"}
            )
            assert as_person.status_code == 403, "a person's password is no system token"
            page = await client.get(
                "/", headers={"authorization": f"Bearer {token}"}, follow_redirects=False
            )
            assert page.status_code == 303, "pages are for people"


async def test_a_plan_over_the_safety_limits_is_shown_then_denied_and_a_job_deleted(
    files: Files, secure: Settings, secured_services: Running
) -> None:
    rows = files.write(count=20, owners=["alice"], extra='owners = ["alice"]\n')
    async with portal_running(secured_services):
        async with person(secure, "alice") as alice_cli:
            await apply_as(alice_cli, files)
        async with signed_in(secure, "alice") as alice, signed_in(secure, "bob") as bob:
            first = (await alice.send("POST", "/api/runs", json={"job": JOB_ID})).json()
            await wait_state(alice, first["run_id"], {"finished"})
            over = await alice.send("POST", f"/api/runs/{first['run_id']}/cancel", json={})
            assert over.status_code == 400, "an ended run is not cancelled"

            write_csv(files.csv, rows[:4])  # 16 of 20 gone: over the safety limits
            second = (await alice.send("POST", "/api/runs", json={"job": JOB_ID})).json()
            run_id = second["run_id"]
            story = await wait_state(alice, run_id, {"awaiting approval"})
            assert "16 deletes exceed the limit" in story["reason"]
            plan = await bob.get(f"/api/runs/{run_id}/plan")
            assert plan.status_code == 404 and "kept once it is approved" in plan.text
            page = await bob.get(f"/runs/{run_id}")
            assert "0 create, 0 update, 16 delete" in page.text
            listed = (await bob.get("/api/approvals")).json()
            assert [(e["run_id"], e["counts"]["delete"]) for e in listed] == [(run_id, 16)]

            denied = await bob.send(
                "POST", f"/api/runs/{run_id}/deny", json={"reason": "not this many"}
            )
            assert denied.status_code == 200, denied.text
            story = await wait_state(alice, run_id, {"denied"})
            assert story["reason"] == "by bob: not this many"

            async with signed_in(secure, "dave") as dave:
                refused = await dave.send("DELETE", f"/api/jobs/{JOB_ID}")
                assert refused.status_code == 403 and "owned by alice" in refused.text
            assert (await alice.get(f"/api/jobs/{JOB_ID}")).status_code == 200
            deleted = await alice.send("DELETE", f"/api/jobs/{JOB_ID}")
            assert deleted.status_code == 200 and deleted.json()["done"] == "deleted"
            assert (await alice.get(f"/api/jobs/{JOB_ID}")).status_code == 404
