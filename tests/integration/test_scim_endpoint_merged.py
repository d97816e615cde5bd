"""A push merged into a run of the whole job (the same system asked for one within the
merge window, as a nightly full sync through the API does): once that run has ended,
each pushed record is told what became of it, never `pending` forever."""

from __future__ import annotations

from pathlib import Path

import httpx
import msgspec

from schemas.commands import RunCommand, encode, reply_decoder
from schemas.subjects import command_subject
from services.cli.client import Session
from services.common import users
from services.common.settings import Settings

from .ldap_helpers import define
from .test_scim_endpoint import CONNECTIONS, JOB, JOB_TOML, endpoint, rows, until_ended
from .test_scim_endpoint_access import user_json


async def test_a_push_merged_into_a_run_of_the_whole_job_is_told_its_outcome(
    settings: Settings, tmp_path: Path, session: Session
) -> None:
    merging = msgspec.structs.replace(settings, scim_port=0, merge_window=1.5)
    token = users.add_person(merging.home, "crm", [], system=True)
    folder = tmp_path / "job"
    await define(session, folder, CONNECTIONS, JOB_TOML)
    headers = {"Authorization": f"Bearer crm:{token}"}
    async with (
        endpoint(merging) as root,
        httpx.AsyncClient(headers=headers, timeout=60) as http,
    ):
        asked = await session.nc.request(
            command_subject("crm", "run"), encode(RunCommand(job_id=JOB)), timeout=10
        )
        whole = reply_decoder.decode(asked.data)
        assert whole.ok and whole.run_id, whole
        answer = await http.post(f"{root}/scim/{JOB}/v2/Users?wait=30", json=user_json(1))
        assert answer.headers["location"].endswith(whole.run_id), answer.headers
        ended = await until_ended(http, answer.headers["location"])
        assert ended["state"] == "finished", ended
        assert answer.status_code == 201, answer.text
        assert ended["Resources"] == [{"key": "E00001", "status": "created", "detail": ""}]
        one = await http.get(answer.json()["meta"]["location"])
        assert one.json()["status"] == "created", one.text
    assert "E00001" in rows(folder)
