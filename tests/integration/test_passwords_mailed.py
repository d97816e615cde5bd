"""End to end: the runner generates each new user's password as it creates the user,
seals it to the notifier, and the notifier mails it to the job's password recipients
alone — the same password the destination holds, and nowhere else in clear."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator

import pytest

from schemas.events import RunFinished, RunPasswordsSealed, encode_event
from services.cli.client import Session
from services.cli.watch import follow_run
from services.common.people import people, write_csv
from services.common.settings import Settings

from .conftest import CONNECTIONS, JOB_ID, Files, RunServices, apply_files
from .mailbox import Mailbox, with_mail
from .test_notify import notifier_done
from .test_notify_passwords import public_key

HELPDESK = "helpdesk@example.org"
JOB = f"""\
id = "{JOB_ID}"
title = "New starters"
source = {{ connection = "hr", file = "people.csv" }}
destination = {{ connection = "db", table = "people" }}
notify = [{{ recipients = ["{HELPDESK}"], trigger = "password" }}]

[[objects]]
keys = ["employee_id"]
fields = [
  {{ to = "employee_id" }},
  {{ to = "surname", from = "last_name" }},
  {{ to = "password", transform = {{ password = 14 }} }},
]
"""


@pytest.fixture
def mailbox() -> Iterator[Mailbox]:
    box = Mailbox()
    box.start()
    yield box
    box.stop()


@pytest.fixture
def settings(settings: Settings, mailbox: Mailbox) -> Settings:
    return with_mail(settings, mailbox)


async def test_new_passwords_are_mailed_sealed_end_to_end(
    files: Files, session: Session, services: RunServices, mailbox: Mailbox
) -> None:
    write_csv(files.csv, people(4))
    files.connections.write_text(CONNECTIONS)
    files.job.write_text(JOB)
    await apply_files(session, files)
    async with services():
        await public_key(session)  # the notifier has published its key
        _, end = await follow_run(session, JOB_ID, None)
        assert isinstance(end, RunFinished) and end.stats.created == 4
        await notifier_done(session)
        journal = await session.journal()
    with sqlite3.connect(files.db) as conn:
        stored = dict(conn.execute("SELECT employee_id, password FROM people").fetchall())
    (mail,) = mailbox.to(HELPDESK)
    text = mail.message.get_body(("plain",)).get_content()  # type: ignore[union-attr]
    for employee, password in stored.items():
        assert f"{employee}  password  {password}" in text
    sealed = [e for e in journal if isinstance(e, RunPasswordsSealed)]
    assert sum(len(e.passwords) for e in sealed) == 4
    events = b"".join(encode_event(e) for e in journal)
    assert not any(password.encode() in events for password in stored.values())


MANAGED = f"""\
id = "{JOB_ID}"
title = "New starters"
source = {{ connection = "hr", file = "people.csv" }}
destination = {{ connection = "db", table = "people" }}
notify = [{{ trigger = "password", recipient_field = "manager_mail" }}]

[[objects]]
keys = ["employee_id"]
fields = [
  {{ to = "employee_id" }},
  {{ to = "manager_mail" }},
  {{ to = "password", transform = {{ password = 14 }} }},
]
"""


async def test_each_manager_gets_the_passwords_of_their_own_people_only(
    files: Files, session: Session, services: RunServices, mailbox: Mailbox
) -> None:
    managers = {"E1": "ada@example.org", "E2": "ada@example.org", "E3": "alan@example.org"}
    files.csv.parent.mkdir(parents=True, exist_ok=True)
    files.csv.write_text(
        "employee_id;manager_mail\n"
        + "".join(f"{employee};{manager}\n" for employee, manager in managers.items())
    )
    files.connections.write_text(CONNECTIONS)
    files.job.write_text(MANAGED)
    await apply_files(session, files)
    async with services():
        await public_key(session)
        _, end = await follow_run(session, JOB_ID, None)
        assert isinstance(end, RunFinished) and end.stats.created == 3
        await notifier_done(session)
    with sqlite3.connect(files.db) as conn:
        stored = dict(conn.execute("SELECT employee_id, password FROM people").fetchall())
    for manager in set(managers.values()):
        (mail,) = mailbox.to(manager)
        assert mail.to == [manager]
        text = mail.message.get_body(("plain",)).get_content()  # type: ignore[union-attr]
        for employee, password in stored.items():
            theirs = managers[employee] == manager
            assert (password in text) == theirs, f"{employee}'s password to {manager}"
