"""A plan's warnings reach whoever runs the job in the background, through every service
over a real nats-server, CSV into SQLite: `idsync job run --wait`, `idsync run show` and
the run's mail say the source record skipped for its empty key, as `job preview` does."""

from __future__ import annotations

import csv
from collections.abc import Iterator
from pathlib import Path

import pytest

from services.cli.client import Session
from services.common.settings import Settings

from .conftest import RunServices
from .ldap_helpers import define
from .mailbox import Mailbox, with_mail
from .test_notify import notifier_done
from .test_transforms_flow import idsync

CONNECTIONS = (
    '[hr]\nprovider = "csv"\ndirectory = "data"\n'
    '[db]\nprovider = "sqlite"\npath = "data/people.db"\n'
)
JOB = """id = "hr-people"
source = { connection = "hr", file = "people.csv" }
destination = { connection = "db", table = "people" }
notify = [{ recipients = ["ops@example.org"], trigger = "always" }]
[[objects]]
keys = ["employee_id"]
fields = [{ to = "employee_id" }, { to = "name" }]
"""
SKIPPED = 'warning: source record skipped, empty key (employee_id): {"name":"Ada"}'


@pytest.fixture
def mailbox() -> Iterator[Mailbox]:
    box = Mailbox()
    box.start()
    yield box
    box.stop()


@pytest.fixture
def settings(settings: Settings, mailbox: Mailbox) -> Settings:
    return with_mail(settings, mailbox)


async def test_a_run_in_the_background_says_its_plans_warnings(
    tmp_path: Path,
    session: Session,
    services: RunServices,
    settings: Settings,
    mailbox: Mailbox,
) -> None:
    job = await define(session, tmp_path, CONNECTIONS, JOB)
    with (tmp_path / "data" / "people.csv").open("w", newline="") as out:
        csv.writer(out).writerows([("employee_id", "name"), ("E1", "Bob"), ("", "Ada")])
    async with services():
        ran = await idsync(settings, "job", "run", job, "--wait")
        await notifier_done(session)
        run_id = ran.stdout.split()[1]
        shown = await idsync(settings, "run", "show", run_id)

    assert ran.returncode == 0, ran.stderr
    assert ran.stdout.startswith(f"run {run_id} finished in ")
    assert f"  {SKIPPED}" in ran.stdout.splitlines()
    assert shown.returncode == 0, shown.stderr
    assert f"  {SKIPPED}" in shown.stdout.splitlines()
    (mail,) = mailbox.to("ops@example.org")
    body = mail.message.get_body(("plain",)).get_content()  # type: ignore[union-attr]
    lines = body.splitlines()
    assert lines[lines.index("Warnings (1):") + 1] == f"  {SKIPPED.removeprefix('warning: ')}"


async def test_a_run_in_the_background_says_why_it_deleted_nothing(
    tmp_path: Path, session: Session, services: RunServices, settings: Settings
) -> None:
    """A record with values but no key could be any object: `job run --wait` says that the
    objects missing from the source are left alone for it, and what to fix."""
    deleting = JOB.replace(
        'keys = ["employee_id"]', 'keys = ["employee_id"]\non_destination_only = "delete"'
    )
    job = await define(session, tmp_path, CONNECTIONS, deleting)
    people = tmp_path / "data" / "people.csv"
    people.write_text("employee_id,name\nE1,Bob\nE9,Cy\n")
    async with services():
        first = await idsync(settings, "job", "run", job, "--wait")
        assert first.returncode == 0, first.stderr
        people.write_text("employee_id,name\nE1,Bob\n,Ada\n")
        ran = await idsync(settings, "job", "run", job, "--wait")
    assert ran.returncode == 0, ran.stderr
    assert (
        "  warning: 1 source record has values but an empty key (employee_id): it could be "
        "the 1 destination object missing from the source, so none is deleted in this run; "
        "give each record a key in the source, or leave such records out of its scope: "
        'where = { field = "employee_id", empty = false }'
    ) in ran.stdout.splitlines()
    assert ", 0 deleted," in ran.stdout


async def test_rows_whose_key_became_empty_say_everywhere_why_nothing_was_deleted(
    tmp_path: Path,
    session: Session,
    services: RunServices,
    settings: Settings,
    mailbox: Mailbox,
) -> None:
    # 150 rows lose their key in the export (a botched join): far more warnings than a
    # run keeps. E2's row is among them, so E2 must not be deleted, and whoever reads the
    # run, its history or its mail must see why, with what to fix.
    deleting = JOB.replace("[[objects]]", "safety = { max_percent = 100 }\n[[objects]]")
    deleting += 'on_destination_only = "delete"\n'
    job = await define(session, tmp_path, CONNECTIONS, deleting)
    people = tmp_path / "data" / "people.csv"
    with people.open("w", newline="") as out:
        csv.writer(out).writerows([("employee_id", "name"), ("E1", "Bob"), ("E2", "Ann")])
    keyless = [("", f"Person {n}") for n in range(150)]
    why = (
        "150 source records have values but an empty key (employee_id): they could be the "
        "1 destination object missing from the source, so none is deleted in this run; "
        "give each record a key in the source, or leave such records out of its scope: "
        'where = { field = "employee_id", empty = false }'
    )
    async with services():
        first = await idsync(settings, "job", "run", job, "--wait")
        assert first.returncode == 0, first.stderr
        with people.open("w", newline="") as out:
            csv.writer(out).writerows([("employee_id", "name"), ("E1", "Bob"), *keyless])
        preview = await idsync(settings, "job", "preview", job)
        ran = await idsync(settings, "job", "run", job, "--wait")
        await notifier_done(session)
        run_id = ran.stdout.split()[1]
        shown = await idsync(settings, "run", "show", run_id)
        reviewed = await idsync(settings, "run", "review", run_id)

    assert "0 to delete" in preview.stdout and f"  warning: {why}" in preview.stdout
    assert ran.returncode == 0, ran.stderr
    skipped = 'source record skipped, empty key (employee_id): {"name":"Person 0"}'
    each = f"{skipped} (and 149 more like it)"  # all of them, though a plan keeps 100
    assert "0 deleted" in ran.stdout
    assert ran.stdout.splitlines()[2:] == [f"  warning: {why}", f"  warning: {each}"]
    assert f"  warning: {why}" in shown.stdout.splitlines()
    assert reviewed.returncode == 0, reviewed.stderr
    assert f"warnings: 2\n  {why}\n  {each}\n" in reviewed.stdout
    last = mailbox.to("ops@example.org")[-1]
    assert last.message["Subject"].endswith("0 deleted, 0 failed, 2 warnings")
    body = last.message.get_body(("plain",)).get_content()  # type: ignore[union-attr]
    lines = body.splitlines()
    assert lines[lines.index("Warnings (2):") :][1:3] == [f"  {why}", f"  {each}"]
