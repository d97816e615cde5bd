"""What the server itself refuses, with the configuration `idsync up` writes: forged
approvals, people writing buckets or managing streams; and what other systems may do —
run requests scoped to some keys, merged when they come in bursts."""

from __future__ import annotations

import asyncio
import sqlite3
import time

import msgspec
import nats
import nats.errors
import pytest
from nats.aio.client import Client
from nats.js.api import StreamConfig

from core.errors import Refused
from schemas.commands import RunCommand, encode, reply_decoder
from schemas.events import RunApproved, RunFinished, RunRequested, encode_event, is_end
from schemas.subjects import command_subject, event_subject
from services.common import users
from services.common.jetstream import JOBS_BUCKET, JOURNAL
from services.common.people import write_csv
from services.common.settings import Settings

from .conftest import JOB_ID, Files
from .journal import events_of_run, wait_for_event
from .secured import Running, apply_as, person, raw_client


@pytest.fixture
def secure(secure: Settings) -> Settings:
    """A system's requests merged over five seconds, not one: ten requests sent together
    reach the workflow one after the other, and on a loaded machine that can take a
    second; they must still fall in one window."""
    return msgspec.structs.replace(secure, merge_window=5.0)


def departments(files: Files) -> dict[str, str]:
    with sqlite3.connect(files.db) as conn:
        return dict(conn.execute("SELECT employee_id, department FROM people").fetchall())


async def violation(errors: list[str], subject: str) -> None:
    """Wait for the server's permission error about `subject` (it comes asynchronously)."""
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        if any("permissions violation" in e and subject.lower() in e.lower() for e in errors):
            return
        await asyncio.sleep(0.05)
    raise AssertionError(f"no permissions violation for {subject}: {errors}")


@pytest.mark.parametrize("who", ["runner", "notifier", "bob"])
async def test_an_approval_published_by_anyone_but_the_workflow_is_refused(
    files: Files, secure: Settings, secured_services: Running, who: str
) -> None:
    files.write(count=5)
    forged = RunApproved(
        run_id="20990101T000000Z-f0f0f0", job_id=JOB_ID, approved_by="bob", requested_by="bob"
    )
    async with (
        secured_services(refused=(event_subject(forged),)),
        person(secure, "alice") as alice,
    ):
        await apply_as(alice, files)
        nc, errors = await raw_client(secure, who)
        try:
            with pytest.raises(nats.errors.TimeoutError):  # refused: no acknowledgement
                await nc.jetstream(timeout=1).publish(event_subject(forged), encode_event(forged))
            await violation(errors, event_subject(forged))
        finally:
            await nc.close()
        await asyncio.sleep(1.0)  # time a runner would need to start it
        assert await events_of_run(alice, forged.run_id) == [], "nothing stored, nothing ran"
    assert not files.db.exists()


async def test_a_person_cannot_write_buckets_or_manage_streams(
    files: Files, secure: Settings, secured_services: Running
) -> None:
    files.write(count=5)
    async with secured_services(), person(secure, "alice") as alice:
        await apply_as(alice, files)
        before = await alice.store.job(JOB_ID)
        async with person(secure, "bob") as bob:
            changed = msgspec.structs.replace(before, title="changed behind the workflow's back")
            with pytest.raises(Refused, match=f'publish to "\\$kv.{JOBS_BUCKET}.{JOB_ID}"'):
                try:
                    await bob.store.put_job(changed)
                except nats.errors.TimeoutError:
                    bob.raise_refusal()
        nc, errors = await raw_client(secure, "bob")
        try:
            js = nc.jetstream(timeout=1)
            with pytest.raises(nats.errors.TimeoutError):
                await js.delete_stream(JOURNAL)
            with pytest.raises(nats.errors.TimeoutError):
                await js.add_stream(StreamConfig(name="MINE", subjects=["mine.>"]))
            with pytest.raises(nats.errors.TimeoutError):  # a consumer: a way around it all
                await js.subscribe("idsync.run.>", ordered_consumer=True)
            await violation(errors, f"$JS.API.STREAM.DELETE.{JOURNAL}")
            with pytest.raises(nats.errors.TimeoutError):  # another person's commands
                await nc.request(command_subject("alice", "run"), b"{}", timeout=1)
            await violation(errors, "idsync.cmd.alice.run")
        finally:
            await nc.close()
        assert (await alice.store.job(JOB_ID)).title == before.title
        assert (await alice.js.stream_info(JOURNAL)).config.name == JOURNAL


async def ask_as_crm(secure: Settings, keys: list[str] | None) -> str:
    nc, _ = await raw_client(secure, "crm")
    try:
        return await ask_on(nc, keys)
    finally:
        await nc.close()


async def ask_on(nc: Client, keys: list[str] | None) -> str:
    """The crm system's run request for `keys`, on a connection of its own; the run's id."""
    command = RunCommand(job_id=JOB_ID, keys=keys)
    answer = await nc.request(command_subject("crm", "run"), encode(command), timeout=10)
    reply = reply_decoder.decode(answer.data)
    assert reply.ok and reply.run_id, reply
    return reply.run_id


async def test_a_system_request_for_three_keys_changes_only_those_three(
    files: Files, secure: Settings, secured_services: Running
) -> None:
    rows = files.write(count=30)
    async with secured_services(), person(secure, "alice") as alice:
        await apply_as(alice, files)
        first = await ask_as_crm(secure, None)
        await wait_for_event(alice, lambda e: isinstance(e, RunFinished) and e.run_id == first)
        for row in rows[:6]:
            row["department"] = "Moved"
        write_csv(files.csv, rows)
        keys = [row["employee_id"] for row in rows[:3]]
        run_id = await ask_as_crm(secure, keys)
        end = await wait_for_event(alice, lambda e: is_end(e) and e.run_id == run_id)
        events = await events_of_run(alice, run_id)
    assert isinstance(end, RunFinished) and end.stats.updated == 3
    request = next(e for e in events if isinstance(e, RunRequested))
    assert (request.trigger, request.requested_by, request.keys) == ("external", "crm", keys)
    moved = sorted(k for k, department in departments(files).items() if department == "Moved")
    assert moved == sorted(keys)


async def test_a_burst_of_ten_requests_is_one_run(
    files: Files, secure: Settings, secured_services: Running
) -> None:
    rows = files.write(count=20)
    async with secured_services(), person(secure, "alice") as alice:
        await apply_as(alice, files)
        keys = [row["employee_id"] for row in rows[:10]]
        # Ten connections made first, so that the ten requests go out together however
        # long connecting takes on a busy machine.
        clients = [nc for nc, _ in await asyncio.gather(*(raw_client(secure, "crm") for _ in keys))]
        try:
            run_ids = await asyncio.gather(
                *(ask_on(nc, [k]) for nc, k in zip(clients, keys, strict=True))
            )
        finally:
            await asyncio.gather(*(nc.close() for nc in clients))
        assert len(set(run_ids)) == 1
        end = await wait_for_event(alice, lambda e: is_end(e) and e.run_id == run_ids[0])
        await asyncio.sleep(1.5)  # a second run would have been requested by now
        requests = [e for e in await alice.journal() if isinstance(e, RunRequested)]
    assert len(requests) == 1 and sorted(requests[0].keys or []) == sorted(keys)
    assert isinstance(end, RunFinished) and end.stats.created == 10


async def test_a_person_added_while_the_server_runs_can_connect_and_removed_cannot(
    secure: Settings, secured_services: Running
) -> None:
    async with secured_services():
        users.add_person(secure.home, "erin", ["approvers"], system=False)
        assert users.reload_server(secure.home), "the running server was told"
        # The server reads its configuration again in its own time (SIGHUP): ask until then.
        deadline = time.monotonic() + 20
        while True:
            try:
                async with person(secure, "erin") as erin:
                    assert await erin.store.jobs() == []
                break
            except Refused:
                assert time.monotonic() < deadline, "erin was never let in"
                await asyncio.sleep(0.1)
        users.remove_person(secure.home, "erin")
        assert users.reload_server(secure.home)
        deadline = time.monotonic() + 20
        with pytest.raises(Refused, match="refused the credentials of an anonymous client"):
            while time.monotonic() < deadline:
                async with person(secure, "erin"):
                    pass
                await asyncio.sleep(0.1)
