"""The `idsync` command as people run it against a server with users: what waits for
whom, approving, a job only its owners change, and the users an operator manages."""

from __future__ import annotations

import asyncio
import json
import subprocess
from pathlib import Path

import pytest

from core.errors import BadInput
from schemas.events import RunFinished, is_end
from services.common.deadletters import dead_letters
from services.common.definitions import load_connections, load_job
from services.common.settings import Settings

from .conftest import IDSYNC, JOB_ID, Files, connections_toml, env_for
from .journal import wait_for_event
from .secured import APPROVAL, Running, as_, person
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
    files.write(count=8, extra=APPROVAL, owners=["alice"])
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
        # What bob approved is the request (no plan over the limits waits yet).
        assert approved.stdout.strip() == f"run {run_id} approved: its request runs now"
        async with person(secure, "carol") as carol:
            await wait_for_event(carol, lambda e: is_end(e) and e.run_id == run_id)
        again = await idsync(secure, "carol", "run", "approve", run_id)
        assert again.returncode == 2
        assert f"run {run_id} is not waiting for approval (it has finished)" in again.stderr

        taken = await idsync(secure, "dave", "job", "apply", str(files.job))
        assert taken.returncode == 2
        assert "job hr-to-db is owned by alice: only they may change it" in taken.stderr
        gone = await idsync(secure, "dave", "job", "delete", JOB_ID)
        assert gone.returncode == 2 and "only they may delete it" in gone.stderr

        shown = json.loads((await idsync(secure, "carol", "run", "show", run_id, "--json")).stdout)
    assert shown["approved_by"] == "bob" and shown["requested_by"] == "alice"


async def test_a_run_asked_for_without_wait_says_whom_it_waits_for(
    files: Files, secure: Settings, secured_services: Running
) -> None:
    files.write(count=3, extra=APPROVAL, owners=["alice"])
    async with secured_services():
        for what, path in (("connection", files.connections), ("job", files.job)):
            assert (await idsync(secure, "alice", what, "apply", str(path))).returncode == 0
        asked = await idsync(secure, "alice", "job", "run", JOB_ID)
        as_json = await idsync(secure, "alice", "job", "run", JOB_ID, "--json")
    assert asked.returncode == 7, asked.stderr
    run_id = asked.stdout.strip()
    assert f"run {run_id} waits for approval" in asked.stderr
    assert "needs the approval of bob, carol" in asked.stderr
    assert f"idsync run approve {run_id}" in asked.stderr
    assert as_json.returncode == 7
    assert json.loads(as_json.stdout)["waits_for"] == ["bob", "carol"]


def elsewhere(folder: Path, owners: list[str]) -> Path:
    """The test connections, the destination moved to another database file."""
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "elsewhere.toml"
    text = connections_toml(owners).replace("data/directory.db", "data/elsewhere.db")
    path.write_text(text)
    return path


async def destination_of(settings: Settings, who: str) -> str:
    listed = await idsync(settings, who, "connection", "list", "--json")
    assert listed.returncode == 0, listed.stderr
    (db,) = [c for c in json.loads(listed.stdout) if c["id"] == "db"]
    return str(db["path"])


async def test_a_connection_that_lists_owners_is_changed_by_them_alone(
    files: Files, secure: Settings, secured_services: Running
) -> None:
    files.write(count=3, extra=APPROVAL, owners=["alice"])
    async with secured_services():
        for what, path in (("connection", files.connections), ("job", files.job)):
            applied = await idsync(secure, "alice", what, "apply", str(path))
            assert applied.returncode == 0, applied.stderr
        before = await destination_of(secure, "dave")

        taken = await idsync(
            secure, "dave", "connection", "apply", str(elsewhere(files.folder / "dave", ["dave"]))
        )
        assert taken.returncode == 2, taken.stdout + taken.stderr
        assert "connection db is owned by alice: only they may change it" in taken.stderr
        assert "connection hr is owned by alice" in taken.stderr
        assert await destination_of(secure, "dave") == before, "nothing applied"

        moved = await idsync(
            secure, "alice", "connection", "apply", str(elsewhere(files.folder, ["alice"]))
        )
        assert moved.returncode == 0, moved.stderr
        assert await destination_of(secure, "dave") == str(files.folder / "data" / "elsewhere.db")


async def test_an_owned_job_uses_only_connections_that_list_owners(
    files: Files, secure: Settings, secured_services: Running
) -> None:
    files.write(count=3, extra=APPROVAL)  # the connections list no owners
    async with secured_services(), person(secure, "alice") as alice:
        await alice.apply_connections(load_connections(files.connections))
        # The workflow refuses it (the command checks it too, and names the file).
        with pytest.raises(BadInput, match="connection hr lists no owners, so anyone could"):
            await alice.apply_job(load_job(files.job))
        refused = await idsync(secure, "alice", "job", "apply", str(files.job))
        assert refused.returncode == 2
        assert f"{files.job}: $.destination.connection: connection db lists" in refused.stderr
        assert 'give it owners (owners = ["alice"] in its table)' in refused.stderr
        assert await alice.store.jobs() == []


async def test_users_are_listed_with_what_they_may_send(secure: Settings) -> None:
    listed = await idsync(secure, "alice", "user", "list", "--json")
    users = {u["user"]: u for u in json.loads(listed.stdout)}
    assert users["bob"]["groups"] == "approvers" and users["crm"]["kind"] == "system"
    assert users["dave"]["commands"] == "idsync.cmd.dave.>"
    assert users["idsync-workflow"]["kind"] == "service"
    reserved = await idsync(secure, "alice", "user", "add", "workflow")
    assert reserved.returncode == 2 and "reserved for the services" in reserved.stderr


async def test_a_person_previews_a_job_with_the_runs_own_inputs(
    files: Files, secure: Settings, secured_services: Running
) -> None:
    """The preview reads the job's watermark and absences, as a run does: people may."""
    files.write(count=4)
    async with secured_services():
        for what, path in (("connection", files.connections), ("job", files.job)):
            assert (await idsync(secure, "alice", what, "apply", str(path))).returncode == 0
        shown = await idsync(secure, "dave", "job", "preview", JOB_ID)
    assert shown.returncode == 0, shown.stderr
    assert "4 to create" in shown.stdout


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


async def test_dead_letters_are_dropped_and_retried_under_users(
    files: Files, secure: Settings, secured_services: Running, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The workflow answers `deadletter drop|retry` with its permissions (deleting a
    stream's messages, publishing again); the runner counts the dropped batch with its
    own. secured_services fails on any refusal."""
    monkeypatch.setenv("IDSYNC_SQLITE_BUSY_TIMEOUT", "0.05")
    files.write(count=6, batch_size=3)
    files.db.parent.mkdir(parents=True, exist_ok=True)
    async with secured_services(), person(secure, "alice") as alice:
        for what, path in (("connection", files.connections), ("job", files.job)):
            applied = await idsync(secure, "alice", what, "apply", str(path))
            assert applied.returncode == 0, applied.stderr
        with locked(files.db):
            run_id = await alice.request_run(JOB_ID)
            while len(letters := await dead_letters(alice.js)) < 2:
                await asyncio.sleep(0.1)
        first, second = sorted(letters, key=lambda letter: letter.what)
        dropped = await idsync(secure, "bob", "deadletter", "drop", str(first.seq))
        assert dropped.returncode == 0, dropped.stderr
        retried = await idsync(secure, "bob", "deadletter", "retry", str(second.seq))
        assert retried.returncode == 0, retried.stderr
        end = await wait_for_event(alice, lambda e: is_end(e) and e.run_id == run_id)
        shown = await idsync(secure, "carol", "run", "show", run_id)
        assert await dead_letters(alice.js) == []
    assert isinstance(end, RunFinished) and end.with_errors
    assert (end.stats.created, end.stats.failed, end.stats.dead_letters) == (3, 3, 1)
    assert f"reason: batch {first.what.split()[1]} dropped by bob" in shown.stdout
