"""Run requests from other systems, told as they went: a request the job can no longer
take ends its run saying why, and no request is held back for good."""

from __future__ import annotations

import sqlite3

import msgspec
import pytest

from core.runs import fold
from schemas.commands import CommandReply, RunCommand, encode, reply_decoder
from schemas.events import Event, RunFailed, RunFinished, RunRequested, is_end
from schemas.subjects import command_subject
from services.cli.client import Session
from services.common.settings import Settings

from .conftest import JOB_ID, Files
from .journal import events_of_run, wait_for_event
from .secured import Running, apply_as, person, raw_client


@pytest.fixture
def secure(secure: Settings) -> Settings:
    # A window long enough for a person to disable the job inside it.
    return msgspec.structs.replace(secure, merge_window=2.0)


def keys_held(files: Files) -> set[str]:
    with sqlite3.connect(files.db) as db:
        try:
            return {row[0] for row in db.execute("SELECT employee_id FROM people")}
        except sqlite3.OperationalError:  # never written: no table
            return set()


async def ended(session: Session, run_id: str) -> Event:
    return await wait_for_event(session, lambda e: is_end(e) and e.run_id == run_id, timeout=60)


async def ask_as_crm(secure: Settings, commands: list[RunCommand]) -> list[CommandReply]:
    nc, _ = await raw_client(secure, "crm")
    try:
        replies = []
        for command in commands:
            answer = await nc.request(command_subject("crm", "run"), encode(command), timeout=20)
            replies.append(reply_decoder.decode(answer.data))
        return replies
    finally:
        await nc.close()


async def test_a_system_request_for_a_job_disabled_inside_its_window_runs_nothing(
    files: Files, secure: Settings, secured_services: Running
) -> None:
    rows = files.write(count=5)
    async with secured_services(), person(secure, "alice") as alice:
        await apply_as(alice, files)
        key = rows[0]["employee_id"]
        [reply] = await ask_as_crm(secure, [RunCommand(job_id=JOB_ID, keys=[key])])
        assert reply.ok and reply.run_id, reply
        job = await alice.store.job(JOB_ID)
        await alice.apply_job(msgspec.structs.replace(job, enabled=False))
        end = await wait_for_event(alice, lambda e: is_end(e) and e.run_id == reply.run_id)
        story = fold(await events_of_run(alice, reply.run_id))[0]
    assert isinstance(end, RunFailed) and "is disabled" in end.reason, end
    assert story.state == "failed" and "is disabled" in (story.reason or "")
    assert keys_held(files) == set(), "a disabled job wrote nothing"


async def test_requests_too_many_keys_for_one_run_become_several_runs_losing_none(
    files: Files, secure: Settings, secured_services: Running
) -> None:
    rows = files.write(count=5)
    async with secured_services(), person(secure, "alice") as alice:
        await apply_as(alice, files)
        # Three requests of 40,000 keys each (about 440 KB as JSON; a message holds
        # 1 MiB): together, more than any one request event could carry.
        asked = [
            [rows[part]["employee_id"], *(f"X{part}-{n:06d}" for n in range(40_000))]
            for part in range(3)
        ]
        replies = await ask_as_crm(secure, [RunCommand(job_id=JOB_ID, keys=k) for k in asked])
        assert all(r.ok and r.run_id for r in replies), replies
        runs = sorted({r.run_id or "" for r in replies})
        ends = [await ended(alice, run) for run in runs]
        requested = [
            e for e in await alice.journal() if isinstance(e, RunRequested) and e.run_id in runs
        ]
        too_many = RunCommand(job_id=JOB_ID, keys=[f"Y{n:07d}" for n in range(92_000)])  # ~1 MB
        [refused] = await ask_as_crm(secure, [too_many])
    assert len(runs) > 1 and all(isinstance(end, RunFinished) for end in ends), ends
    sent = {key for keys in asked for key in keys}
    assert {key for e in requested for key in e.keys or []} == sent, "no key lost"
    assert keys_held(files) == {rows[part]["employee_id"] for part in range(3)}
    assert not refused.ok and "too many for one run request" in (refused.error or "")
    assert "several requests" in (refused.error or "")


async def test_a_system_request_accepted_before_the_workflow_stops_is_run_after_its_restart(
    files: Files, secure: Settings, secured_services: Running
) -> None:
    rows = files.write(count=5)
    key = rows[2]["employee_id"]
    async with person(secure, "alice") as alice:
        async with secured_services():
            await apply_as(alice, files)
            [reply] = await ask_as_crm(secure, [RunCommand(job_id=JOB_ID, keys=[key])])
            assert reply.ok and reply.run_id, reply
        # Stopped inside the request's window (2 s): a restart, an upgrade.
        async with secured_services():
            end = await ended(alice, reply.run_id)
        events = await events_of_run(alice, reply.run_id)
    requested = [e for e in events if isinstance(e, RunRequested)]
    assert isinstance(end, RunFinished) and end.stats.created == 1, end
    assert [e.keys for e in requested] == [[key]]
    assert keys_held(files) == {key}
