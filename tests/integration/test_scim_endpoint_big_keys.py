"""A bulk within the endpoint's limits whose users' keys are too many, or too long, for
one run's request: refused at once (413, saying to split it), nothing kept — never a
503 "push again" that no retry could pass, with the users kept all the same."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import httpx

from services.cli.client import Session
from services.common import pushed, users
from services.common.settings import Settings

from .ldap_helpers import define
from .test_scim_endpoint import CONNECTIONS, JOB, JOB_TOML, endpoint, endpoint_settings

__all__ = ["endpoint_settings"]
COUNT = 10_000  # the most a bulk takes; their keys over NATS's 1 MiB message


def user(n: int) -> dict[str, Any]:
    return {"externalId": f"{n:06d}-" + "k" * 110, "userName": f"u{n}", "active": True}


async def test_a_bulk_of_keys_too_large_for_a_run_is_refused_whole(
    endpoint_settings: Settings, tmp_path: Path, session: Session
) -> None:
    token = users.add_person(endpoint_settings.home, "crm", [], system=True)
    await define(session, tmp_path / "job", CONNECTIONS, JOB_TOML)
    body = {
        "schemas": ["urn:ietf:params:scim:api:messages:2.0:BulkRequest"],
        "Operations": [
            {"method": "POST", "bulkId": str(n), "path": "/Users", "data": user(n)}
            for n in range(COUNT)
        ],
    }
    async with endpoint(endpoint_settings) as root:
        headers = {"Authorization": f"Bearer crm:{token}"}
        async with httpx.AsyncClient(headers=headers, timeout=120) as http:
            answer = await http.post(f"{root}/scim/{JOB}/v2/Bulk", json=body)
        assert answer.status_code == 413, answer.text[:400]
        said = answer.json()
        assert said["status"] == "413" and "smaller bulk" in said["detail"], said
        kept = [r async for batch in pushed.read(session.nc, "crm", 1000) for r in batch]
        assert kept == []
