"""Mail delivery: a mail server that is down and then up gets the mail exactly once;
an event delivered again after its mail went out is not mailed again; a server that
never comes back is reported on the run."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator

import msgspec
import pytest

from schemas.events import RunFinished, RunNotifyFailed, encode_event
from schemas.subjects import event_subject
from services.cli.client import Session
from services.cli.watch import follow_run
from services.common.jetstream import JOURNAL
from services.common.settings import Settings

from .conftest import JOB_ID, Files, RunServices, apply_files
from .journal import wait_for_event
from .mailbox import Mailbox, RefusingServer, free_port
from .test_notify import notifier_done

NOTIFY = 'notify = [{ recipients = ["ops@example.org"], trigger = "always", attach = "csv" }]'


@pytest.fixture
def mailbox() -> Iterator[Mailbox]:
    # Not started: each test says when the server is up, on the port the settings name.
    box = Mailbox(free_port())
    yield box
    box.stop()


@pytest.fixture
def max_deliver() -> int:
    """Attempts at a mail: retries after 0.3, 0.6, 1.2 … s leave time (a minute) to bring
    the server up between two of them; a test of giving up asks for fewer."""
    return 8


@pytest.fixture
def settings(settings: Settings, mailbox: Mailbox, max_deliver: int) -> Settings:
    return msgspec.structs.replace(
        settings,
        smtp_host="127.0.0.1",
        smtp_port=mailbox.port,
        smtp_security="none",
        mail_from="idsync@example.org",
        max_deliver=max_deliver,
        retry_delay=0.3,
    )


async def test_a_server_down_then_up_gets_the_mail_once(
    files: Files, session: Session, services: RunServices, mailbox: Mailbox
) -> None:
    files.write(count=10, extra=NOTIFY)
    await apply_files(session, files)
    down = RefusingServer(mailbox.port)
    await down.start()
    try:
        async with services():
            _, end = await follow_run(session, JOB_ID, None)
            assert isinstance(end, RunFinished)
            while down.attempts < 2:  # the notifier tried, and was turned away, twice
                await asyncio.sleep(0.05)
            await down.stop()
            mailbox.start()
            # Up to a minute: the retries' delays double (0.3 s, 0.6 s … 19.2 s).
            (mail,) = await mailbox.wait_for(1, timeout=60)
            await notifier_done(session)
            await asyncio.sleep(1.5)  # longer than the next retry would wait
    finally:
        await down.stop()
    assert mailbox.received == [mail]
    assert mail.to == ["ops@example.org"]
    assert mail.message["Message-ID"] == f"<{end.id}.csv@example.org>"
    failures = [e for e in await session.journal() if isinstance(e, RunNotifyFailed)]
    assert failures == []


async def test_an_event_delivered_again_after_its_mail_went_out_is_not_mailed_again(
    files: Files, session: Session, services: RunServices, mailbox: Mailbox
) -> None:
    files.write(count=10, extra=NOTIFY)
    await apply_files(session, files)
    mailbox.start()
    async with services():
        _, end = await follow_run(session, JOB_ID, None)
        await mailbox.wait_for(1)
        await notifier_done(session)
        # The same event once more, as a redelivery after a crash would bring it.
        await session.js.publish(
            event_subject(end),
            encode_event(end),
            stream=JOURNAL,
            headers={"Nats-Msg-Id": f"{end.id}-again"},
        )
        await notifier_done(session)
    assert len(mailbox.received) == 1


@pytest.mark.parametrize("max_deliver", [4])
async def test_a_server_that_stays_down_is_reported_on_the_run(
    files: Files, session: Session, services: RunServices, settings: Settings
) -> None:
    files.write(count=3, extra=NOTIFY)
    await apply_files(session, files)
    async with services():
        run_id, _ = await follow_run(session, JOB_ID, None)
        failed = await wait_for_event(
            session, lambda e: isinstance(e, RunNotifyFailed) and e.run_id == run_id, timeout=60
        )
    assert isinstance(failed, RunNotifyFailed)
    assert failed.about == "run.finished" and failed.recipients == ["ops@example.org"]
    assert f"not sent after {settings.max_deliver} attempts" in failed.reason
    assert f"127.0.0.1:{settings.smtp_port}" in failed.reason
