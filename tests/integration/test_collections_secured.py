"""A collection on a server with users: applied, run and followed with the command, every
service as its own user; a job that needs approval still waits for it — and the
collection with it — until an approver answers."""

from __future__ import annotations

import asyncio
import json

import msgspec

from schemas.commands import CollectionCommand, encode, reply_decoder
from schemas.events import CollectionEnded, Event
from schemas.subjects import COLLECTION_EVENTS, command_subject
from services.common.settings import Settings

from .conftest import JOB_ID, Files
from .secured import APPROVAL, Running, person, raw_client
from .test_cli_secured import idsync


async def test_a_collection_waits_for_its_jobs_approval(
    files: Files, secure: Settings, secured_services: Running
) -> None:
    files.write(count=3, extra=APPROVAL, owners=["alice"])
    second = files.folder / "second.toml"
    second.write_text(
        files.job.read_text()
        .replace(f'id = "{JOB_ID}"', 'id = "second"')
        .replace('table = "people"', 'table = "others"')
        .replace('approval = { approvers = ["group:approvers"], expire_after = "1h" }', "")
    )
    nightly = files.folder / "nightly.toml"
    nightly.write_text(
        'id = "nightly"\nowners = ["alice"]\n\n'
        f'[[jobs]]\njob = "{JOB_ID}"\n\n[[jobs]]\njob = "second"\n'
    )
    async with secured_services():
        for args in (
            ("connection", "apply", str(files.connections)),
            ("job", "apply", str(files.job)),
            ("job", "apply", str(second)),
            ("collection", "apply", str(nightly)),
        ):
            done = await idsync(secure, "alice", *args)
            assert done.returncode == 0, (args, done.stderr)
        taken = await idsync(secure, "dave", "collection", "apply", str(nightly))
        assert taken.returncode == 2 and "owned by alice" in taken.stderr
        asked = await idsync(secure, "alice", "collection", "run", "nightly")
        assert asked.returncode == 0, asked.stderr
        run_id = asked.stdout.strip()

        async def waiting_run() -> str:
            while True:
                listed = await idsync(secure, "bob", "run", "approvals", "--json")
                found = json.loads(listed.stdout) if listed.returncode == 0 else []
                if found:
                    return str(found[0]["run_id"])
                await asyncio.sleep(0.2)

        step_run = await asyncio.wait_for(waiting_run(), 30)
        shown = json.loads(
            (await idsync(secure, "bob", "collection", "show", "nightly", "--json")).stdout
        )
        steps = shown["runs"][0]["steps"]
        assert [(s["job"], s["outcome"]) for s in steps] == [
            (JOB_ID, "running"),
            ("second", "pending"),
        ]
        assert steps[0]["run_id"] == step_run
        approved = await idsync(secure, "bob", "run", "approve", step_run)
        assert approved.returncode == 0, approved.stderr

        async def ended() -> dict[str, object]:
            while True:
                shown = await idsync(secure, "bob", "collection", "show", "nightly", "--json")
                run = json.loads(shown.stdout)["runs"][0]
                if run["state"] != "running":
                    return dict(run)
                await asyncio.sleep(0.2)

        run = await asyncio.wait_for(ended(), 60)
    assert run["run_id"] == run_id and run["state"] == "finished"
    assert [s["outcome"] for s in run["steps"]] == ["finished", "finished"]  # type: ignore[attr-defined]


async def test_another_system_runs_a_collection_and_disables_a_job_by_commands(
    files: Files, secure: Settings, secured_services: Running
) -> None:
    """What the command line sends, a system user (`crm`) sends itself: the collection
    run command, then the job back with `enabled = false` — the job-apply command."""
    files.write(count=3)
    nightly = files.folder / "nightly.toml"
    nightly.write_text(f'id = "nightly"\n\n[[jobs]]\njob = "{JOB_ID}"\n')
    async with secured_services():
        for args in (
            ("connection", "apply", str(files.connections)),
            ("job", "apply", str(files.job)),
            ("collection", "apply", str(nightly)),
        ):
            done = await idsync(secure, "alice", *args)
            assert done.returncode == 0, (args, done.stderr)
        nc, errors = await raw_client(secure, "crm")
        try:
            asked = await nc.request(
                command_subject("crm", "collection-run"),
                encode(CollectionCommand(collection_id="nightly")),
                timeout=10,
            )
            reply = reply_decoder.decode(asked.data)
            assert reply.ok and reply.run_id, reply
            async with person(secure, "bob") as bob:

                async def end() -> Event:
                    while True:
                        for event in await bob.journal(COLLECTION_EVENTS):
                            if isinstance(event, CollectionEnded):
                                return event
                        await asyncio.sleep(0.2)

                ended = await asyncio.wait_for(end(), 60)
                job = await bob.store.job(JOB_ID)
            assert isinstance(ended, CollectionEnded) and ended.outcome == "finished"
            off = msgspec.structs.replace(job, enabled=False)
            answer = await nc.request(
                command_subject("crm", "job-apply"), msgspec.json.encode(off), timeout=10
            )
            assert reply_decoder.decode(answer.data).ok
        finally:
            await nc.close()
        assert errors == []
        listed = await idsync(secure, "bob", "job", "list", "--json")
        assert json.loads(listed.stdout)[0]["enabled"] is False
