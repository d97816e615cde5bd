"""docs/security.md's request from another system works as written: with the inbox
prefix it shows, the system gets its run id; without it, no answer comes."""

from __future__ import annotations

import json
import re
import shlex
from pathlib import Path

import nats
import nats.errors
import pytest

from services.common import credentials
from services.common.settings import Settings

from .conftest import JOB_ID, Files
from .secured import Running, apply_as, as_, person

DOC = Path(__file__).resolve().parents[2] / "docs" / "security.md"


def documented_request() -> dict[str, str]:
    """The `nats … request` of the page's section on other systems, as options."""
    section = DOC.read_text().split("## Requests from other systems")[1]
    block = re.search(r"```sh\n(.*?)```", section, re.S)
    assert block is not None
    command = " ".join(
        line for line in block[1].replace("\\\n", " ").splitlines() if line.startswith("nats ")
    )
    words = shlex.split(command)
    options = dict(zip(words[1:-3:2], words[2:-3:2], strict=True))
    assert words[-3] == "request", words
    return {**options, "subject": words[-2], "payload": words[-1]}


async def test_a_system_asks_for_a_run_as_the_page_shows(
    files: Files, secure: Settings, secured_services: Running
) -> None:
    asked = documented_request()
    job_id = json.loads(asked["payload"])["job_id"]
    files.write(count=3, owners=["alice"])
    files.job.write_text(files.job.read_text().replace(JOB_ID, job_id))
    system = credentials.for_person(as_(secure, asked["--user"]))
    assert system is not None
    async with secured_services(), person(secure, "alice") as alice:
        await apply_as(alice, files)
        with_prefix = await nats.connect(
            secure.nats_url or "",
            user=system.user,
            password=system.password,
            inbox_prefix=asked["--inbox-prefix"],
        )
        try:
            answer = await with_prefix.request(
                asked["subject"], asked["payload"].encode(), timeout=10
            )
        finally:
            await with_prefix.close()
        without = await nats.connect(
            secure.nats_url or "", user=system.user, password=system.password
        )
        try:
            with pytest.raises(nats.errors.TimeoutError):
                await without.request(asked["subject"], asked["payload"].encode(), timeout=2)
        finally:
            await without.close()
    reply = json.loads(answer.data)
    assert reply["ok"] is True and reply["run_id"], reply
    assert asked["--inbox-prefix"] == "_INBOX_crm"
