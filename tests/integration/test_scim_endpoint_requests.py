"""What a SCIM client meets at idsync's endpoint beyond a well-formed push: each request
idsync does not take is answered in SCIM's error shape (RFC 7644 §3.12) with a status
that tells the truth, and nothing is stored for it."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import httpx
import msgspec

from services.cli.client import Session
from services.common import pushed, users
from services.common.settings import Settings

from .ldap_helpers import define
from .test_scim_endpoint import CONNECTIONS, JOB, JOB_TOML, endpoint, endpoint_settings, rows

__all__ = ["endpoint_settings"]
ERROR = "urn:ietf:params:scim:api:messages:2.0:Error"


def scim_error(answer: httpx.Response, status: int) -> dict[str, Any]:
    assert answer.status_code == status, (answer.status_code, answer.text)
    assert answer.headers["content-type"].startswith("application/scim+json"), answer.headers
    body: dict[str, Any] = answer.json()
    assert body["schemas"] == [ERROR] and body["status"] == str(status), body
    return body


async def test_requests_idsync_does_not_take_are_scim_errors_that_say_so(
    endpoint_settings: Settings, tmp_path: Path, session: Session
) -> None:
    token = users.add_person(endpoint_settings.home, "crm", [], system=True)
    await define(session, tmp_path / "job", CONNECTIONS, JOB_TOML)
    user = {
        "schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"],
        "userName": "ada",
        "externalId": "E1",
        "name": {"givenName": "Ada"},
        "active": True,
    }
    async with endpoint(endpoint_settings) as root:
        base = f"{root}/scim/{JOB}/v2"
        headers = {"Authorization": f"Bearer crm:{token}"}
        async with httpx.AsyncClient(base_url=base, headers=headers, timeout=30) as http:
            # A delete or a patch of one user is not taken: 405, never a 404 a client
            # reads as "already gone".
            for method in ("DELETE", "PATCH"):
                body = {
                    "schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"],
                    "Operations": [{"op": "replace", "path": "active", "value": False}],
                }
                answer = await http.request(
                    method, "/Users/E1", json=body if method == "PATCH" else None
                )
                said = scim_error(answer, 405)
                assert '"active": false' in said["detail"], said
            # Listing or filtering users is not offered.
            scim_error(await http.get("/Users", params={"filter": 'userName eq "ada"'}), 501)
            scim_error(await http.get("/Users/E1"), 501)
            scim_error(await http.get("/Groups"), 404)
            # Without a token: 401 in SCIM's shape.
            anonymous = await http.post("/Users", json=user, headers={"Authorization": ""})
            scim_error(anonymous, 401)
            assert anonymous.headers["www-authenticate"].startswith("Bearer")
            scim_error(await http.get("/Bulk"), 405)
            # A run id that is none, though shaped as one, is no run of the job.
            for run in ("20261399T000000Z-abc123", "not-a-run"):
                scim_error(await http.get(f"/Runs/{run}"), 404)
                scim_error(await http.get(f"/Runs/{run}/Users/E1"), 404)
            scim_error(await http.post("/Users", content=b'{"userName": '), 400)
            # A PUT of one user is a push of that user, as in a bulk request.
            put = await http.put("/Users/E1", params={"wait": 30}, json=user)
            assert put.status_code == 201, put.text
            assert put.json()["id"] == "E1" and "/Runs/" in put.headers["location"]
            assert rows(tmp_path / "job")["E1"][1:3] == ("ada", "Ada")
            # A user of another shape than SCIM's is refused, its given name kept.
            shapeless = {**user, "name": "Ada Lovelace"}
            said = scim_error(await http.put("/Users/E1", params={"wait": 30}, json=shapeless), 400)
            assert said["detail"].startswith("name:"), said
            assert rows(tmp_path / "job")["E1"][1:3] == ("ada", "Ada")
            # A body over the limit is refused before it is all read.
            huge = b'{"userName": "' + b"x" * (33 << 20) + b'"}'
            scim_error(await http.post("/Users", content=huge), 413)


async def test_a_push_to_a_disabled_job_is_refused_and_nothing_is_kept(
    endpoint_settings: Settings, tmp_path: Path, session: Session
) -> None:
    token = users.add_person(endpoint_settings.home, "crm", [], system=True)
    await define(session, tmp_path / "job", CONNECTIONS, JOB_TOML)
    job = await session.store.job(JOB)
    await session.apply_job(msgspec.structs.replace(job, enabled=False))
    user = {"userName": "ada", "externalId": "E1", "active": True}
    async with endpoint(endpoint_settings) as root:
        headers = {"Authorization": f"Bearer crm:{token}"}
        async with httpx.AsyncClient(headers=headers, timeout=30) as http:
            said = scim_error(await http.post(f"{root}/scim/{JOB}/v2/Users", json=user), 400)
            assert "disabled" in said["detail"], said
        # Nothing was kept for a later run of the job to apply behind the system's back.
        kept = [r async for batch in pushed.read(session.nc, "crm", 100) for r in batch]
        assert kept == []
