"""The `idsync` command as people run it against a server with users: what waits for
whom, approving, a job only its owners change, and the users an operator manages."""

from __future__ import annotations

import asyncio
import json
import subprocess

import pytest

from services.common.settings import Settings

from .conftest import IDSYNC, JOB_ID, Files, env_for
from .secured import APPROVAL, Running, as_
from .test_delivery import locked


async def idsync(settings: Settings, who: str, *args: str) -> subprocess.CompletedProcess[str]:
    return await asyncio.to_thread(
        subprocess.run,
        [*IDSYNC, *args],
        env=env_for(as_(settings, who)),
        capture_output=True,
        text=True,
        timeout=120,
    )


async def test_people_apply_ask_list_and_approve_with_the_command(
    files: Files, secure: Settings, secured_services: Running
) -> None:
    files.write(count=8, extra=APPROVAL)
    async with secured_services():
        for what in ("connection", "job"):
            path = files.connections if what == "connection" else files.job
            applied = await idsync(secure, "alice", what, "apply", str(path))
            assert applied.returncode == 0, applied.stderr
        asked = await idsync(secure, "alice", "job", "run", JOB_ID, "--wait")
        assert asked.returncode == 7, asked.stderr
        assert "waits for approval" in asked.stderr and "idsync run approvals" in asked.stderr
        run_id = asked.stderr.split()[1]

        nothing = await idsync(secure, "dave", "run", "approvals")
        assert nothing.stdout.startswith("nothing waits for your approval")
        listed = await idsync(secure, "bob", "run", "approvals")
        assert f"run {run_id} of job {JOB_ID} (manual)" in listed.stdout
        assert "asked for by alice" in listed.stdout and "approvers: bob, carol" in listed.stdout

        mine = await idsync(secure, "alice", "run", "approve", run_id)
        assert mine.returncode == 2 and "alice asked for this run" in mine.stderr
        approved = await idsync(secure, "bob", "run", "approve", run_id)
        assert approved.returncode == 0, approved.stderr

        taken = await idsync(secure, "dave", "job", "apply", str(files.job))
        assert taken.returncode == 2
        assert "job hr-to-db is owned by alice: only they may change it" in taken.stderr
        gone = await idsync(secure, "dave", "job", "delete", JOB_ID)
        assert gone.returncode == 2 and "only they may delete it" in gone.stderr

        shown = json.loads((await idsync(secure, "carol", "run", "show", run_id, "--json")).stdout)
    assert shown["approved_by"] == "bob" and shown["requested_by"] == "alice"


async def test_users_are_listed_with_what_they_may_send(secure: Settings) -> None:
    listed = await idsync(secure, "alice", "user", "list", "--json")
    users = {u["user"]: u for u in json.loads(listed.stdout)}
    assert users["bob"]["groups"] == "approvers" and users["crm"]["kind"] == "system"
    assert users["dave"]["commands"] == "idsync.cmd.dave.>"
    assert users["idsync-workflow"]["kind"] == "service"
    reserved = await idsync(secure, "alice", "user", "add", "workflow")
    assert reserved.returncode == 2 and "reserved for the services" in reserved.stderr


async def test_a_failing_batch_is_said_at_once_and_its_dead_letter_listed_under_users(
    files: Files, secure: Settings, secured_services: Running, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Each failed attempt, the dead letter and its announcement go through with the
    runner's own permissions (secured_services fails on any refusal); the person
    following the run sees every reason, and the letter is listed when the run stops."""
    monkeypatch.setenv("IDSYNC_SQLITE_BUSY_TIMEOUT", "0.05")
    files.write(count=5)
    files.db.parent.mkdir(parents=True, exist_ok=True)
    async with secured_services():
        for what, path in (("connection", files.connections), ("job", files.job)):
            applied = await idsync(secure, "alice", what, "apply", str(path))
            assert applied.returncode == 0, applied.stderr
        with locked(files.db):
            waited = await idsync(secure, "alice", "job", "run", JOB_ID, "--wait")
            listed = await idsync(secure, "alice", "deadletter", "list", "--json")
    assert waited.returncode == 7, waited.stderr
    tries = [line for line in waited.stderr.splitlines() if "trying again" in line]
    assert len(tries) == secure.max_deliver - 1
    assert tries[0].startswith(f"batch 1: attempt 1 of {secure.max_deliver} failed")
    assert "locked by another program" in tries[0]
    assert "waits: batch 1 failed its last delivery" in waited.stderr
    [letter] = json.loads(listed.stdout)
    assert letter["what"] == "batch 1 (5 changes)"
