"""The notifier under its own permissions: it reads a run's events from the journal as
people do (direct gets, no consumer) and the stored plan for the report, and mails
the run's story — secured_services fails on any refusal."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from schemas.events import is_end
from services.common.settings import Settings

from .conftest import JOB_ID, Files
from .journal import wait_for_event
from .mailbox import Mailbox, with_mail
from .secured import Running, apply_as, person
from .test_notify import notifier_done, report_rows

MAILED = """\
notify = [{ recipients = ["ops@example.org"], trigger = "always", attach = "csv" }]
"""


@pytest.fixture
def mailbox() -> Iterator[Mailbox]:
    box = Mailbox()
    box.start()
    yield box
    box.stop()


@pytest.fixture
def secure(secure: Settings, mailbox: Mailbox) -> Settings:
    return with_mail(secure, mailbox)


async def test_the_notifier_mails_a_runs_story_and_report_under_its_own_user(
    files: Files, secure: Settings, secured_services: Running, mailbox: Mailbox
) -> None:
    files.write(count=4, extra=MAILED)
    async with secured_services(), person(secure, "alice") as alice:
        await apply_as(alice, files)
        run_id = await alice.request_run(JOB_ID)
        await wait_for_event(alice, lambda e: is_end(e) and e.run_id == run_id)
        await notifier_done(alice)
    (mail,) = mailbox.received
    text = mail.message.get_body(("plain",)).get_content()  # type: ignore[union-attr]
    assert f"Run: {run_id}" in text and "State: finished" in text
    assert "Requested by: alice (manual)" in text and "Approved by: workflow" in text
    assert len(report_rows(mail, "csv")) == 4 * 6  # 4 creates, 6 fields each
