"""Mail about runs: jobs run through every service over a real nats-server, and the
notifier mails a real SMTP server (aiosmtpd). Each trigger mails exactly when it
should; the attached report is the run's plan; data cannot add headers; a server
that is down and then up gets each mail once."""

from __future__ import annotations

import asyncio
import csv
import io
import time
from collections.abc import Iterator

import msgspec
import pytest
from openpyxl import load_workbook

from schemas.events import Event, RunDenied, RunFailed, RunFinished, RunNotifyFailed, is_end
from services.cli.client import Session
from services.cli.watch import follow_run
from services.common.jetstream import JOURNAL, NOTIFIER
from services.common.people import DEPARTMENTS, write_csv
from services.common.settings import Settings

from .conftest import JOB_ID, Files, RunServices, apply_files
from .journal import wait_for_event
from .mailbox import Mailbox, Received

ALWAYS, CHANGED, ERRORS, FAILED, APPROVER = (
    f"{name}@example.org" for name in ("always", "changed", "errors", "failed", "approver")
)
EVERY_TRIGGER = f"""\
notify = [
  {{ recipients = ["Always Informed <{ALWAYS}>"], trigger = "always" }},
  {{ recipients = ["{CHANGED}"], trigger = "changed" }},
  {{ recipients = ["{ERRORS}"], trigger = "errors" }},
  {{ recipients = ["{FAILED}"], trigger = "failed" }},
  {{ recipients = ["{APPROVER}"], trigger = "approval" }},
]
safety = {{ max_percent = 5, min_count = 0 }}
"""
# A department outside the map fails that one record (a record error, not a failed run).
KNOWN = ", ".join(f'{name} = "{name}"' for name in DEPARTMENTS)
MAPPED = f'{{ to = "department", transform = {{ map = {{ {KNOWN} }} }} }}'


@pytest.fixture
def mailbox() -> Iterator[Mailbox]:
    box = Mailbox()
    box.start()
    yield box
    box.stop()


@pytest.fixture
def settings(settings: Settings, mailbox: Mailbox) -> Settings:
    """The integration settings, with mail going to the test's own SMTP server."""
    return msgspec.structs.replace(
        settings,
        smtp_host="127.0.0.1",
        smtp_port=mailbox.port,
        smtp_security="none",
        mail_from="idsync <idsync@example.org>",
    )


async def notifier_done(session: Session, timeout: float = 20.0) -> None:
    """Wait until the notifier has handled (and acknowledged) every event so far."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        info = await session.js.consumer_info(JOURNAL, NOTIFIER.name)
        if info.num_pending == 0 and info.num_ack_pending == 0:
            return
        await asyncio.sleep(0.05)
    raise AssertionError("the notifier did not handle every event in time")


async def run_and_collect(session: Session, mailbox: Mailbox) -> tuple[Event, set[str]]:
    """Run the job to its end (or its wait for approval); who was mailed about it."""
    before = len(mailbox.received)
    _, end = await follow_run(session, JOB_ID, None)
    await notifier_done(session)
    return end, {rcpt for mail in mailbox.received[before:] for rcpt in mail.to}


async def test_each_trigger_mails_exactly_when_it_should(
    files: Files, session: Session, services: RunServices, mailbox: Mailbox
) -> None:
    people = files.write(count=50, extra=EVERY_TRIGGER)
    files.job.write_text(files.job.read_text().replace('{ to = "department" }', MAPPED))
    people[7]["department"] = "Mars"
    write_csv(files.csv, people)
    await apply_files(session, files)
    async with services():
        end, mailed = await run_and_collect(session, mailbox)
        assert isinstance(end, RunFinished) and end.stats.created == 49 and end.stats.failed == 1
        assert mailed == {ALWAYS, CHANGED, ERRORS}

        people[7]["department"] = "Research"
        write_csv(files.csv, people)
        end, mailed = await run_and_collect(session, mailbox)
        assert isinstance(end, RunFinished) and end.stats.created == 1 and not end.with_errors
        assert mailed == {ALWAYS, CHANGED}

        end, mailed = await run_and_collect(session, mailbox)  # nothing to do
        assert isinstance(end, RunFinished) and end.stats.written == 0
        assert mailed == {ALWAYS}

        write_csv(files.csv, [*people, people[0]])  # one key twice: the run fails
        end, mailed = await run_and_collect(session, mailbox)
        assert isinstance(end, RunFailed)
        assert mailed == {ALWAYS, FAILED}

        write_csv(files.csv, people[3:])  # 3 deletes: over 5% of 50, the plan waits
        before = len(mailbox.received)
        run_id, _ = await follow_run(session, JOB_ID, None)
        await notifier_done(session)
        (request,) = mailbox.received[before:]
        assert request.to == [APPROVER]
        await session.decide("deny", run_id, "not now")
        await wait_for_event(session, lambda e: isinstance(e, RunDenied) and e.run_id == run_id)
        await notifier_done(session)
        assert [mail.to for mail in mailbox.received[before + 1 :]] == [[ALWAYS]]

    first = mailbox.to(ERRORS)[0].message
    assert "finished with errors — 49 created, 0 updated, 0 deleted, 1 failed" in first["Subject"]
    assert first["Subject"].startswith("[idsync] HR to the database:")
    text = first.get_body(("plain",)).get_content()  # type: ignore[union-attr]
    html = first.get_body(("html",)).get_content()  # type: ignore[union-attr]
    failing = people[7]["employee_id"]
    for part in (text, html):
        assert "Requested by" in part and "tester (manual)" in part
        assert "Approved by" in part and "workflow" in part
        assert failing in part and "Mars" in part  # the record error, listed
    approval = request.message
    assert "a plan waits for approval — 3 deletes exceed the limit of 2" in approval["Subject"]
    body = approval.get_body(("plain",)).get_content()  # type: ignore[union-attr]
    assert f"idsync run approve {run_id}" in body and f"idsync run deny {run_id}" in body
    assert "3 delete" in body


def report_rows(mail: Received, kind: str) -> list[dict[str, str]]:
    (part,) = [p for p in mail.message.iter_attachments() if p.get_filename().endswith(kind)]  # type: ignore[union-attr]
    content = part.get_payload(decode=True)
    assert isinstance(content, bytes)
    if kind == "csv":
        return list(csv.DictReader(io.StringIO(content.decode("utf-8-sig"))))
    book = load_workbook(io.BytesIO(content), read_only=True, data_only=True)
    rows = list(book["changes"].iter_rows(values_only=True))
    book.close()
    header = [str(cell) for cell in rows[0]]
    return [
        {h: "" if v is None else str(v) for h, v in zip(header, row, strict=True)}
        for row in rows[1:]
    ]


ATTACHING = """\
notify = [
  { recipients = ["sheets@example.org"], trigger = "changed", attach = "xlsx" },
  { recipients = ["csv@example.org", "both@example.org"], trigger = "changed", attach = "csv" },
  { recipients = ["both@example.org"], trigger = "always", attach = "xlsx" },
]
"""


async def test_the_attached_report_is_the_runs_changes(
    files: Files, session: Session, services: RunServices, mailbox: Mailbox
) -> None:
    people = files.write(count=20, extra=ATTACHING)
    people[4]["first_name"] = '=HYPERLINK("http://example.org","x")'  # would run in a sheet
    write_csv(files.csv, people)
    await apply_files(session, files)
    async with services():
        _, mailed = await run_and_collect(session, mailbox)
        assert mailed == {"sheets@example.org", "csv@example.org", "both@example.org"}
        assert len(mailbox.received) == 3  # one mail each, whatever they asked for
        first = list(mailbox.received)
        people[9]["department"] = "Moved"
        write_csv(files.csv, people)
        await run_and_collect(session, mailbox)
    by_csv = next(mail for mail in first if mail.to == ["csv@example.org"])
    rows = report_rows(by_csv, "csv")
    assert len(rows) == 20 * 6  # 20 creates, 6 fields each
    assert {row["action"] for row in rows} == {"create"}
    values = {(row["key"], row["field"]): row["new_value"] for row in rows}
    assert values[(people[3]["employee_id"], "mail")] == people[3]["email"]
    assert values[(people[4]["employee_id"], "given_name")] == "'" + people[4]["first_name"]
    both = next(mail for mail in first if mail.to == ["both@example.org"])
    assert report_rows(both, "xlsx") == report_rows(both, "csv") == rows
    update = next(m for m in mailbox.received[3:] if m.to == ["sheets@example.org"])
    (row,) = report_rows(update, "xlsx")
    assert (row["key"], row["action"], row["field"]) == (
        people[9]["employee_id"],
        "update",
        "department",
    )
    assert row["new_value"] == "Moved"
    assert [mail.message.get_content_type() for mail in first] == ["multipart/mixed"] * 3


async def test_data_cannot_add_headers_and_the_run_says_why(
    files: Files, session: Session, services: RunServices, mailbox: Mailbox
) -> None:
    files.write(
        count=5, extra='notify = [{ recipients = ["ops@example.org"], trigger = "always" }]'
    )
    injected = 'title = "HR\\r\\nBcc: intruder@example.org"'
    files.job.write_text(files.job.read_text().replace('title = "HR to the database"', injected))
    await apply_files(session, files)
    async with services():
        _, end = await follow_run(session, JOB_ID, None)
        assert is_end(end)
        refused = await wait_for_event(session, lambda e: isinstance(e, RunNotifyFailed))
        # A display name can only get this far by skipping `idsync job apply`'s check.
        job = await session.store.job(JOB_ID)
        bad_name = "Eve\r\nBcc: intruder@example.org <eve@example.org>"
        notify = [msgspec.structs.replace(job.notify[0], recipients=[bad_name])]
        await session.store.put_job(msgspec.structs.replace(job, title="HR", notify=notify))
        run_id, _ = await follow_run(session, JOB_ID, None)
        named = await wait_for_event(
            session, lambda e: isinstance(e, RunNotifyFailed) and e.run_id == run_id
        )
        await notifier_done(session)
    assert mailbox.received == []
    assert isinstance(refused, RunNotifyFailed) and refused.about == "run.finished"
    assert "the title" in refused.reason and "put it on one line" in refused.reason
    assert isinstance(named, RunNotifyFailed) and "without '\\r'" in named.reason


async def test_a_run_that_withheld_deletes_for_a_record_without_a_key_mails_on_errors(
    files: Files, session: Session, services: RunServices, mailbox: Mailbox
) -> None:
    # A person's employee number lost from the export: the run deletes no one (that
    # record could be anyone missing) and says so in its plan; the people who asked to
    # hear of errors must hear of it, or the leavers stay in the directory unnoticed.
    people = files.write(count=10, extra=EVERY_TRIGGER)
    await apply_files(session, files)
    async with services():
        end, mailed = await run_and_collect(session, mailbox)
        assert isinstance(end, RunFinished) and end.stats.created == 10

        keyless = {**people[2], "employee_id": ""}
        write_csv(files.csv, [people[0], people[1], keyless, *people[4:]])  # people[3] left
        end, mailed = await run_and_collect(session, mailbox)
        assert isinstance(end, RunFinished) and end.stats.deleted == 0 and not end.with_errors
        assert mailed == {ALWAYS, ERRORS}

    text = mailbox.to(ERRORS)[-1].message.get_body(("plain",)).get_content()  # type: ignore[union-attr]
    assert "values but an empty key (employee_id)" in text
