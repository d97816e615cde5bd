"""The portal's templates, collections, schedules and roles over HTTP, with the services
on the secured server: each is the command the command line sends, the workflow decides,
and a refusal for want of a right is 403 where one for what was sent is 400 — with
nothing stored either way."""

from __future__ import annotations

import asyncio
from typing import Any

import msgspec
import pytest

from services.common.settings import Settings

from .conftest import JOB_ID, Files
from .portal import Signed, portal_running, signed_in
from .secured import Running, apply_as, person

SOURCE = {"connection": "hr", "file": "people.csv"}
DESTINATION = {"connection": "db", "table": "copies"}


@pytest.fixture
def secure(secure: Settings) -> Settings:
    """The secured server's settings, with the portal on a free port."""
    return msgspec.structs.replace(secure, portal_port=0)


async def ended_collection_run(signed: Signed, run_id: str) -> dict[str, Any]:
    async with asyncio.timeout(30):
        while True:
            answer = await signed.get(f"/api/collection-runs/{run_id}")
            if answer.status_code == 200 and answer.json()["state"] != "running":
                found: dict[str, Any] = answer.json()
                return found
            await asyncio.sleep(0.2)


async def test_templates_collections_and_schedules_through_the_workflow(
    files: Files, secure: Settings, secured_services: Running
) -> None:
    files.write(count=5, owners=["alice"], schedule="1h", extra='owners = ["alice"]\n')
    async with portal_running(secured_services):
        async with person(secure, "alice") as alice_cli:
            await apply_as(alice_cli, files)
        async with signed_in(secure, "alice") as alice, signed_in(secure, "dave") as dave:
            # Templates: saved from a job, listed after those idsync ships, used.
            saved = await alice.send(
                "POST", "/api/templates", json={"template": "hr-feed", "job": JOB_ID}
            )
            assert saved.status_code == 201 and saved.json()["done"] == "saved", saved.text
            listed = (await alice.get("/api/templates")).json()
            assert {"id": "hr-feed", "from": "saved"}.items() <= listed[-1].items()
            assert any(t["from"] == "shipped" for t in listed)
            shown = (await alice.get("/api/templates/hr-feed")).json()
            assert shown["job"]["source"]["connection"] == "" and shown["owners"] == ["alice"]
            for body, words in (
                ({"template": "Not An Id", "job": JOB_ID}, "not an id"),
                ({"template": "other"}, "either job or collection"),
                ({"job": JOB_ID}, "body.template"),
            ):
                bad = await alice.send("POST", "/api/templates", json=body)
                assert bad.status_code == 400 and words in bad.json()["detail"], bad.text
            missing = await alice.send(
                "POST", "/api/templates", json={"template": "x", "job": "nothing-here"}
            )
            assert missing.status_code == 404
            taken = await dave.send("DELETE", "/api/templates/hr-feed")
            assert taken.status_code == 403 and "owned by alice" in taken.json()["detail"]
            shipped = (await alice.get("/api/templates")).json()[0]["id"]
            kept = await alice.send("DELETE", f"/api/templates/{shipped}")
            assert kept.status_code == 400 and "ships with idsync" in kept.json()["detail"]

            use = "/api/templates/hr-feed/use"
            made = await alice.send(
                "POST", use, json={"id": "hr-copy", "source": SOURCE, "destination": DESTINATION}
            )
            assert made.status_code == 201, made.text
            copy = (await alice.get("/api/jobs/hr-copy")).json()
            assert copy["destination"]["table"] == "copies" and copy["owners"] == ["alice"]
            uses: tuple[tuple[dict[str, Any], str], ...] = (
                ({"id": "hr-two", "destination": DESTINATION}, "source: a job template needs"),
                ({"id": "hr-two", "source": {**SOURCE, "connection": "nowhere"},
                  "destination": DESTINATION}, "nowhere"),
                ({"id": "hr-two", "source": {"file": 3}, "destination": DESTINATION}, "source:"),
                ({"id": "hr-copy", "source": SOURCE, "destination": DESTINATION}, "exists"),
            )  # fmt: skip
            for sent, words in uses:
                bad = await alice.send("POST", use, json=sent)
                assert bad.status_code == 400 and words in bad.json()["detail"], bad.text
            assert (await alice.get("/api/jobs/hr-two")).status_code == 404, "nothing stored"

            # Collections: applied as JSON, shown, run, refused to those not owning it.
            nightly: dict[str, Any] = {
                "id": "nightly",
                "owners": ["alice"],
                "jobs": [{"job": JOB_ID}],
            }
            applied = await alice.send("PUT", "/api/collections/nightly", json=nightly)
            assert applied.status_code == 200 and applied.json()["done"] == "created"
            puts: tuple[tuple[str, dict[str, Any], str], ...] = (
                ("nightly", {**nightly, "jobs": [{"job": "nothing-here"}]}, "nothing-here"),
                ("elsewhere", nightly, "not 'elsewhere'"),
                ("nightly", {**nightly, "jobs": "all"}, "$.jobs"),
            )
            for path, put, words in puts:
                bad = await alice.send("PUT", f"/api/collections/{path}", json=put)
                assert bad.status_code == 400 and words in bad.json()["detail"], bad.text
            retitled = await dave.send(
                "PUT", "/api/collections/nightly", json={**nightly, "title": "dave's"}
            )
            assert retitled.status_code == 403 and "owned by alice" in retitled.text
            gone = await dave.send("DELETE", "/api/collections/nightly")
            assert gone.status_code == 403
            shown = (await alice.get("/api/collections/nightly")).json()
            assert [s["job"] for s in shown["collection"]["jobs"]] == [JOB_ID]
            assert shown["collection"]["owners"] == ["alice"] and shown["runs"] == []
            asked = await alice.send("POST", "/api/collections/nightly/run")
            assert asked.status_code == 202, asked.text
            run = await ended_collection_run(alice, asked.json()["run_id"])
            assert run["state"] == "finished" and run["steps"][0]["outcome"] == "finished"
            over = await alice.send("POST", f"/api/collection-runs/{run['run_id']}/cancel")
            assert over.status_code == 400 and "ended already" in over.json()["detail"]
            listed = (await alice.get("/api/collections")).json()
            assert [(c["id"], c["last_run"]["run_id"]) for c in listed] == [
                ("nightly", run["run_id"])
            ]
            missing = await alice.get("/api/collection-runs/nothing-here")
            assert missing.status_code == 404

            # Schedules: listed with their next fire, disabled by the job's owner only.
            rows = (await alice.get("/api/schedules")).json()
            assert [(r["job_id"], r["enabled"]) for r in rows] == [
                ("hr-copy", True),  # made from the template: it keeps the job's schedule
                (JOB_ID, True),
            ]
            rows = [r for r in rows if r["job_id"] == JOB_ID]
            assert rows[0]["next_fire"] is not None
            name = rows[0]["schedule"]
            switch = f"/api/jobs/{JOB_ID}/schedules/{name}/disable"
            refused = await dave.send("POST", switch)
            assert refused.status_code == 403 and "owned by alice" in refused.text
            done = await alice.send("POST", switch)
            assert done.status_code == 200 and done.json()["done"] == "disabled"
            rows = (await alice.get("/api/schedules", params={"job": JOB_ID})).json()
            assert [(r["enabled"], r["next_fire"]) for r in rows] == [(False, None)]
            unknown = await alice.send("POST", f"/api/jobs/{JOB_ID}/schedules/nope/enable")
            assert unknown.status_code == 404 and name in unknown.json()["detail"]

            deleted = await alice.send("DELETE", "/api/collections/nightly")
            assert deleted.status_code == 200
            assert (await alice.get("/api/collections")).json() == []


async def test_roles_granted_and_revoked_and_their_refusals(
    files: Files, secure: Settings, secured_services: Running
) -> None:
    files.write(count=5, owners=["alice"], extra='owners = ["alice"]\n')
    async with portal_running(secured_services):
        async with person(secure, "alice") as alice_cli:
            await apply_as(alice_cli, files)
        async with signed_in(secure, "alice") as alice, signed_in(secure, "dave") as dave:
            before = (await alice.get("/api/whoami")).json()
            assert before["principal"] == "alice" and before["in_force"] is False
            bad = await alice.send("POST", "/api/roles/job-author/grant", json={"grantee": "dave"})
            assert bad.status_code == 400 and "administrator" in bad.json()["detail"], bad.text
            first = await alice.send(
                "POST", "/api/roles/administrator/grant", json={"grantee": "alice"}
            )
            assert first.status_code == 200, first.text
            roles = (await alice.get("/api/roles")).json()
            assert roles["in_force"] is True
            admin = (await alice.get("/api/roles/administrator")).json()
            assert admin["granted_to"] == ["alice"] and admin["changed_by"] == "alice"
            assert (await alice.get("/api/roles/nothing-here")).status_code == 404

            # dave holds no role: he may read, and nothing else.
            refused = await dave.send("POST", "/api/roles/operator/grant", json={"grantee": "dave"})
            assert refused.status_code == 403 and "users.manage" in refused.json()["detail"]
            saving = {"template": "daves", "job": JOB_ID}
            no_role = await dave.send("POST", "/api/templates", json=saving)
            assert no_role.status_code == 403 and "jobs.create" in no_role.json()["detail"]
            assert (await dave.get("/api/templates/daves")).status_code == 404
            empty = await alice.send("POST", "/api/roles/job-author/grant", json={"grantee": ""})
            assert empty.status_code == 400 and "body.grantee" in empty.text
            unknown = await alice.send("POST", "/api/roles/nothing/grant", json={"grantee": "dave"})
            assert unknown.status_code == 400 and "nothing" in unknown.json()["detail"]

            granted = await alice.send(
                "POST", "/api/roles/job-author/grant", json={"grantee": "dave"}
            )
            assert granted.status_code == 200, granted.text
            mine = (await dave.get("/api/whoami")).json()
            assert [r["role"] for r in mine["roles"]] == ["job-author"]
            assert "jobs.create" in mine["permissions"]
            allowed = await dave.send("POST", "/api/templates", json=saving)
            assert allowed.status_code == 201, allowed.text
            revoked = await alice.send(
                "POST", "/api/roles/job-author/revoke", json={"grantee": "dave"}
            )
            assert revoked.status_code == 200, revoked.text
            assert (await dave.get("/api/whoami")).json()["roles"] == []
            again = await dave.send("DELETE", "/api/templates/daves")
            assert again.status_code == 403
            assert (await dave.get("/api/templates/daves")).status_code == 200


async def test_the_dashboard_shows_types_schedules_pins_and_the_last_30_days(
    files: Files, secure: Settings, secured_services: Running
) -> None:
    files.write(count=6, owners=["alice"], schedule="1h", extra='owners = ["alice"]\n')
    async with portal_running(secured_services):
        async with person(secure, "alice") as alice_cli:
            await apply_as(alice_cli, files)
        async with signed_in(secure, "alice") as alice:
            job = (await alice.get(f"/api/jobs/{JOB_ID}")).json()
            pinned = await alice.send("PUT", f"/api/jobs/{JOB_ID}", json={**job, "pinned": True})
            assert pinned.status_code == 200, pinned.text
            nightly = {"id": "nightly", "pinned": True, "jobs": [{"job": JOB_ID}]}
            assert (await alice.send("PUT", "/api/collections/nightly", json=nightly)).is_success
            asked = await alice.send("POST", "/api/runs", json={"job": JOB_ID})
            async with asyncio.timeout(30):
                while (await alice.get(f"/api/runs/{asked.json()['run_id']}")).json()[
                    "state"
                ] != "finished":
                    await asyncio.sleep(0.2)
            page = (await alice.get("/")).text
    by_type = page.split('id="by-type"')[1].split("</section>")[0]
    assert "<tr><td>user</td><td>1</td><td>1</td><td>0</td><td>0</td></tr>" in by_type
    scheduled = page.split('id="scheduled"')[1].split("</section>")[0]
    assert JOB_ID in scheduled and "every 1h" in scheduled, scheduled
    shown_pins = page.split('id="pinned"')[1].split("</section>")[0]
    assert JOB_ID in shown_pins and "nightly" in shown_pins
    activity = page.split('id="activity"')[1].split("</section>")[0]
    assert "1 run(s)" in activity and "6 change(s)" in activity
    assert activity.count('class="bar-runs"') == 30
    today = activity.split("<tbody>")[1]
    assert "<td>1</td><td>6</td><td>0</td>" in today, "today's row in the table read aloud"


async def test_the_pages_list_them_and_their_forms_send_the_commands(
    files: Files, secure: Settings, secured_services: Running
) -> None:
    files.write(count=4, owners=["alice"], schedule="1h", extra='owners = ["alice"]\n')
    async with portal_running(secured_services):
        async with person(secure, "alice") as alice_cli:
            await apply_as(alice_cli, files)
        async with signed_in(secure, "alice") as alice, signed_in(secure, "dave") as dave:
            nightly = {"id": "nightly", "owners": ["alice"], "jobs": [{"job": JOB_ID}]}
            assert (await alice.send("PUT", "/api/collections/nightly", json=nightly)).is_success
            shipped = (await alice.get("/api/templates")).json()[0]["id"]
            assert shipped in (await alice.get("/templates")).text
            assert JOB_ID in (await alice.get("/collections")).text
            schedules = (await alice.get("/schedules")).text
            name = (await alice.get("/api/schedules")).json()[0]["schedule"]
            assert f"/jobs/{JOB_ID}/schedules/{name}/disable" in schedules

            switch = f"/jobs/{JOB_ID}/schedules/{name}/disable"
            refused = await dave.client.post(switch, data={"csrf": dave.csrf})
            assert (
                refused.status_code == 303 and "owned%20by%20alice" in refused.headers["location"]
            )
            forged = await alice.client.post(switch, data={"csrf": "guessed"})
            assert forged.status_code == 403
            done = await alice.client.post(switch, data={"csrf": alice.csrf})
            assert done.status_code == 303 and "note=" in done.headers["location"]
            assert (await alice.get("/api/schedules")).json()[0]["enabled"] is False

            ran = await alice.client.post("/collections/nightly/run", data={"csrf": alice.csrf})
            assert ran.status_code == 303 and "run%20" in ran.headers["location"]

            roles = (await dave.get("/roles")).text
            assert "No role is granted yet" in roles and "job-author" in roles
            grant = {"csrf": alice.csrf, "role": "administrator", "grantee": "alice"}
            granted = await alice.client.post("/roles/grant", data=grant)
            assert granted.status_code == 303 and "note=" in granted.headers["location"]
            grant = {"csrf": dave.csrf, "role": "administrator", "grantee": "dave"}
            taken = await dave.client.post("/roles/grant", data=grant)
            assert "users.manage" in taken.headers["location"].replace("%2E", ".")
            assert "You hold no role" in (await dave.get("/roles")).text
