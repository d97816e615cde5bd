"""Generated passwords: sealed to the notifier's public key (as the runner seals them),
published on the run, mailed only to the job's `password` recipients — and found
nowhere else: not in an event, a log line, the sent-mail record or the server's store."""

from __future__ import annotations

import asyncio
import secrets
import stat
import time
from collections.abc import Iterator
from pathlib import Path

import msgspec
import pytest

from schemas.events import (
    RunFinished,
    RunNotifyFailed,
    RunPasswordsSealed,
    SealedPassword,
    encode_event,
)
from schemas.subjects import event_subject
from services.cli.client import Session
from services.cli.watch import follow_run
from services.common.jetstream import JOURNAL, MAIL_BUCKET
from services.common.sealing import SealedPayload, notifier_public_key, seal
from services.common.settings import Settings

from .conftest import JOB_ID, Files, RunServices, apply_files
from .mailbox import Mailbox, with_mail
from .test_notify import notifier_done

HELPDESK, OPS = "helpdesk@example.org", "ops@example.org"
NOTIFY = f"""\
notify = [
  {{ recipients = ["Helpdesk <{HELPDESK}>"], trigger = "password", attach = "csv" }},
  {{ recipients = ["{OPS}"], trigger = "always" }},
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


async def public_key(session: Session) -> bytes:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if (key := await notifier_public_key(session.js)) is not None:
            return key
        await asyncio.sleep(0.05)
    raise AssertionError("the notifier published no public key")


def every_byte_below(folder: Path) -> bytes:
    """The contents of every file below `folder`, one after the other (a file the server
    renames between the listing and the reading, as it does its temporary ones, is read
    under its new name, also listed)."""
    found = []
    for path in folder.rglob("*"):
        try:
            found.append(path.read_bytes())
        except (FileNotFoundError, IsADirectoryError):
            continue
    return b"".join(found)


async def test_passwords_reach_only_their_recipient_and_leave_no_trace(
    files: Files,
    session: Session,
    services: RunServices,
    mailbox: Mailbox,
    settings: Settings,
    tmp_path: Path,
    capfd: pytest.CaptureFixture[str],
) -> None:
    people = files.write(count=5, extra=NOTIFY)
    await apply_files(session, files)
    first, second, third = (person["employee_id"] for person in people[:3])
    made = {first: secrets.token_urlsafe(12), second: secrets.token_urlsafe(12)}
    async with services():
        run_id, end = await follow_run(session, JOB_ID, None)
        assert isinstance(end, RunFinished)
        key = await public_key(session)

        def sealed(record: str, password: str) -> SealedPassword:
            payload = SealedPayload(
                run_id=run_id, job_id=JOB_ID, key=record, field="password", password=password
            )
            return SealedPassword(key=record, field="password", sealed=seal(key, payload))

        items = [sealed(record, password) for record, password in made.items()]
        # The first record's sealed value, passed off as the third's: refused, not mailed.
        items.append(msgspec.structs.replace(items[0], key=third))
        event = RunPasswordsSealed(
            run_id=run_id, job_id=JOB_ID, id=f"{run_id}.passwords.1", passwords=items
        )
        await session.js.publish(
            event_subject(event),
            encode_event(event),
            stream=JOURNAL,
            headers={"Nats-Msg-Id": event.id},
        )
        await notifier_done(session)
        journal = await session.journal()
        refused = [e for e in journal if isinstance(e, RunNotifyFailed)]
        kv = await session.js.key_value(MAIL_BUCKET)
        sent_records = [(await kv.get(k)).value or b"" for k in await kv.keys()]

    (mail,) = [m for m in mailbox.received if HELPDESK in m.to]
    assert mail.to == [HELPDESK]  # nobody else: not the `always` recipient
    assert [m.to for m in mailbox.received if m is not mail] == [[OPS]]  # the run's end
    message = mail.message
    assert message["Subject"] == "[idsync] HR to the database: generated passwords"
    assert list(message.iter_attachments()) == []
    text = message.get_body(("plain",)).get_content()  # type: ignore[union-attr]
    html = message.get_body(("html",)).get_content()  # type: ignore[union-attr]
    for record, password in made.items():
        assert f"{record}  password  {password}" in text and password in html
    assert f"{third} (password): was sealed for another run or record" in text
    (failure,) = refused
    assert failure.about == "run.passwords-sealed" and third in failure.reason

    # No trace: every event of the journal, every log line, the sent-mail records, and
    # every file the server and the services wrote (the journal's store included).
    logs = capfd.readouterr()
    events = b"".join(encode_event(e) for e in journal)
    stored = await asyncio.to_thread(every_byte_below, tmp_path)
    for password in made.values():
        for haystack in (events, *sent_records, logs.out.encode(), logs.err.encode(), stored):
            assert password.encode() not in haystack
    key_file = settings.home / "notifier.key"
    assert stat.S_IMODE(key_file.stat().st_mode) == 0o600
