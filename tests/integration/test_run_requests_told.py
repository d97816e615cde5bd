"""Run requests from other systems, told as they went: a request the job can no longer
take ends its run saying why, and no request is held back for good."""

from __future__ import annotations

import sqlite3

import msgspec
import pytest

from core.runs import fold
from schemas.commands import CommandReply, RunCommand, encode, reply_decoder
from schemas.events import RunFailed, is_end
from schemas.subjects import command_subject
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
