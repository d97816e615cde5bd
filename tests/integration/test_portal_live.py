"""The portal's live side: one object provisioned now, told step by step, and the
journal's events as server-sent events."""

from __future__ import annotations

import asyncio
import json
import sqlite3

import msgspec
import pytest

from services.common.settings import Settings

from .conftest import JOB_ID, Files
from .portal import portal_running, signed_in
from .secured import Running, apply_as, person


@pytest.fixture
def secure(secure: Settings) -> Settings:
    return msgspec.structs.replace(secure, portal_port=0)


def mail_of(files: Files, key: str) -> str | None:
    with sqlite3.connect(files.db) as db:
        found = db.execute("SELECT mail FROM people WHERE employee_id = ?", (key,)).fetchone()
    return None if found is None else str(found[0])


async def test_one_object_provisioned_now_is_told_step_by_step(
    files: Files, secure: Settings, secured_services: Running
) -> None:
    rows = files.write(count=10, owners=["alice"], extra='owners = ["alice"]\n')
    key = rows[3]["employee_id"]
    async with portal_running(secured_services):
        async with person(secure, "alice") as alice_cli:
            await apply_as(alice_cli, files)
        async with signed_in(secure, "alice") as alice:
            answer = await alice.send(
                "POST", f"/api/jobs/{JOB_ID}/provision", json={"key": key, "wait": 60}
            )
            assert answer.status_code == 200, answer.text
            told = answer.json()
            steps = {step["step"]: step for step in told["steps"]}
            assert list(steps) == [
                "requested",
                "read",
                "in scope",
                "matched",
                "planned change",
                "outcome",
            ]
            assert steps["in scope"]["outcome"] == "yes"
            assert steps["matched"]["outcome"] == "no", told
            assert steps["planned change"]["outcome"] == "create"
            planned = {c["field"]: c["new"] for c in steps["planned change"]["changes"]}
            assert planned["mail"] == rows[3]["email"]
            assert steps["outcome"]["outcome"] == "written"
            assert mail_of(files, key) == rows[3]["email"]
            assert mail_of(files, rows[4]["employee_id"]) is None, "one object, no other"

            again = await alice.send("POST", f"/api/jobs/{JOB_ID}/provision", json={"key": key})
            steps = {step["step"]: step for step in again.json()["steps"]}
            assert steps["matched"]["outcome"] == "yes"
            assert steps["planned change"]["outcome"] == "none"
            assert steps["outcome"]["outcome"] == "unchanged"

            absent = await alice.send(
                "POST", f"/api/jobs/{JOB_ID}/provision", json={"key": "E999999"}
            )
            steps = {step["step"]: step for step in absent.json()["steps"]}
            assert steps["in scope"]["outcome"] == "no"

            empty = await alice.send("POST", f"/api/jobs/{JOB_ID}/provision", json={"key": ""})
            assert empty.status_code == 400 and "body.key" in empty.text
            missing = await alice.send("POST", "/api/jobs/nope/provision", json={"key": key})
            assert missing.status_code == 404 and "nope" in missing.text


async def test_the_events_of_a_job_arrive_as_server_sent_events(
    files: Files, secure: Settings, secured_services: Running
) -> None:
    files.write(count=5)
    async with portal_running(secured_services):
        async with person(secure, "alice") as alice_cli:
            await apply_as(alice_cli, files)
        async with signed_in(secure, "alice") as alice:
            seen: list[tuple[str, dict[str, object]]] = []
            following = asyncio.Event()

            async def listen() -> None:
                async with alice.client.stream(
                    "GET", "/api/events", params={"job": JOB_ID}
                ) as stream:
                    assert stream.headers["content-type"].startswith("text/event-stream")
                    kind = ""
                    async for line in stream.aiter_lines():
                        if line.startswith(": following"):
                            following.set()  # subscribed: nothing published from now is missed
                        if line.startswith("event: "):
                            kind = line.removeprefix("event: ")
                        elif line.startswith("data: "):
                            seen.append((kind, json.loads(line.removeprefix("data: "))))
                            if kind == "run.finished":
                                return

            listening = asyncio.create_task(listen())
            await asyncio.wait_for(following.wait(), 30)
            asked = await alice.send("POST", "/api/runs", json={"job": JOB_ID})
            run_id = asked.json()["run_id"]
            await asyncio.wait_for(listening, 60)
            kinds = [kind for kind, event in seen if event["run_id"] == run_id]
            assert kinds[0] == "run.requested" and kinds[-1] == "run.finished"
            assert "run.planned" in kinds and "run.batch-applied" in kinds
            bad = await alice.get("/api/events", params={"job": "not a job"})
            assert bad.status_code == 400 and "not a job id" in bad.text
