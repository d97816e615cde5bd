"""A collection run's summary: one mail per run to each `notify` list whose trigger its
end fires, naming every job's outcome and run and what each did — the rows written in
the destination, and their sum — through a real SMTP server."""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterator

import pytest

from services.cli.client import Session
from services.common.settings import Settings

from .conftest import JOB_ID, Files, RunServices
from .mailbox import Mailbox, with_mail
from .test_cli import idsync
from .test_collections import collection_file, three_jobs  # noqa: F401 (a fixture)


@pytest.fixture
def mailbox() -> Iterator[Mailbox]:
    box = Mailbox()
    box.start()
    yield box
    box.stop()


@pytest.fixture
def settings(settings: Settings, mailbox: Mailbox) -> Settings:
    return with_mail(settings, mailbox)


async def test_one_summary_mail_per_collection_run(
    settings: Settings,
    three_jobs: Files,  # noqa: F811
    session: Session,
    services: RunServices,
    mailbox: Mailbox,
) -> None:
    path = collection_file(
        three_jobs.folder,
        "go-on",
        ("broken", "continue"),
        (JOB_ID, "continue"),
        ("second", "abort"),
    )
    path.write_text(
        path.read_text().replace(
            "\n[[jobs]]",
            '\nnotify = [\n  { recipients = ["ops@example.org"], trigger = "always" },\n'
            '  { recipients = ["oncall@example.org"], trigger = "failed" },\n'
            '  { recipients = ["nobody@example.org"], trigger = "errors" },\n]\n\n[[jobs]]',
            1,
        )
    )
    applied = await idsync(settings, "collection", "apply", str(path))
    assert applied.returncode == 0, applied.stderr
    async with services("workflow", "runner", "notifier"):
        done = await idsync(settings, "collection", "run", "go-on", "--wait", "--json")
        mails = await mailbox.wait_for(3)
    run = json.loads(done.stdout)
    assert sorted(address for mail in mails for address in mail.to) == [
        "nobody@example.org",
        "oncall@example.org",
        "ops@example.org",
    ]
    message = mails[0].message
    assert message["Subject"] == "idsync: collection The go-on collection finished with failures"
    text = message.get_content()
    assert f"1. broken: failed (run {run['steps'][0]['run_id']})" in text
    assert f"2. {JOB_ID}: finished (run {run['steps'][1]['run_id']})" in text
    with sqlite3.connect(three_jobs.db) as db:
        written = {
            table: db.execute(f"SELECT count(*) FROM {table}").fetchone()[0]
            for table in ("people", "others")
        }
    lines = text.splitlines()
    step_two = next(line for line in lines if line.startswith(f"2. {JOB_ID}: finished"))
    assert f": 4 read, {written['people']} created, 0 updated, 0 deleted" in step_two
    step_three = next(line for line in lines if line.startswith("3. second: finished"))
    assert f", {written['others']} created, " in step_three
    assert f"in all: 8 read, {sum(written.values())} created, 0 updated" in text
    assert run["steps"][1]["stats"]["created"] == written["people"], "collection run --json"
    shown = await idsync(settings, "collection", "show", "go-on")
    assert f"in all: 8 read, {sum(written.values())} created" in shown.stdout
