"""The mail about one event for one mailing, as an EmailMessage (pure).

Header values that come from data — the job's title in the subject, recipients'
display names — are refused when they hold a line break or NUL (`MailRefused`), so
no data can start a header of its own; the email package's default policy refuses
them too, and this check says which value to fix. The Message-ID derives from the
event's id and the mailing, so an event delivered again makes the same mail.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from email.headerregistry import Address
from email.message import EmailMessage
from email.utils import format_datetime

import msgspec

from core.checks.addresses import BadAddress, parse_address, unsafe_header_text
from core.errors import BadInput
from core.runs import RunStory
from schemas.events import (
    Event,
    RunAwaitingApproval,
    RunCancelled,
    RunDenied,
    RunFailed,
    RunFinished,
    RunPasswordsSealed,
    tag_of,
)
from schemas.jobs import Job

from . import body
from .triggers import Mailing

_REASON_IN_SUBJECT = 80
_ID_UNSAFE = re.compile(r"[^A-Za-z0-9._-]")


class MailRefused(BadInput):
    """A mail that cannot be sent as it stands: a value of the job must be fixed."""


class Attachment(msgspec.Struct, frozen=True, kw_only=True):
    filename: str
    content: bytes
    maintype: str
    subtype: str
    charset: str | None = None


def message_id(event: Event, mailing: Mailing, sender: Address) -> str:
    """<event id.part@sender's domain>: the same for every delivery of the event."""
    left = _ID_UNSAFE.sub("-", f"{event.id}.{mailing.part}")
    return f"<{left}@{sender.domain or 'idsync.invalid'}>"


def subject(job: Job, event: Event, warnings: int = 0) -> str:
    """The mail's subject; a finished run's says how many `warnings` its plan had (one
    that left absent objects alone, for a record without a key, wrote nothing)."""
    title = job.display_title
    if (unsafe := unsafe_header_text(title)) is not None:
        raise MailRefused(
            f"job {job.id}: the title {title!r} {unsafe}; put it on one line in the job file"
        )
    told = f", {warnings} warning{'s' * (warnings != 1)}" if warnings else ""
    return f"[idsync] {title}: {_what(event)}" + (told if isinstance(event, RunFinished) else "")


def _what(event: Event) -> str:
    match event:
        case RunFinished(stats=s, with_errors=with_errors, staged=staged):
            state = "finished with errors" if with_errors else "finished"
            state += " (staging: nothing written)" if staged else ""
            # Disables, moves and restores are said when a run made some: a run of leavers
            # moved is not "0 created, 0 updated, 0 deleted".
            done = [f"{s.created} created", f"{s.updated} updated", f"{s.deleted} deleted"]
            done += [
                f"{n} {name}"
                for name in ("disabled", "moved", "enabled")
                if (n := getattr(s, name))
            ]
            return f"{state} — {', '.join(done)}, {s.failed} failed"
        case RunFailed(reason=reason):
            return f"failed — {_first_line(reason)}"
        case RunAwaitingApproval(reason=reason, counts=counts):
            waits = "a plan" if counts is not None else "a run (not planned yet)"
            return f"{waits} waits for approval — {_first_line(reason)}"
        case RunCancelled(by=by):
            return f"cancelled by {_first_line(by)}"
        case RunDenied(by=by):
            return f"denied by {_first_line(by)}"
        case RunPasswordsSealed():
            return "generated passwords"
        case _:
            return tag_of(event).removeprefix("run.")


def _first_line(text: str) -> str:
    """A reason is many lines at times; the subject takes the start of the first one."""
    line = (text.strip().splitlines() or [""])[0]
    line = "".join(ch if ch.isprintable() else " " for ch in line)
    if len(line) > _REASON_IN_SUBJECT:
        line = line[: _REASON_IN_SUBJECT - 1] + "…"
    return line


def recipients(job: Job, mailing: Mailing) -> list[Address]:
    found = []
    for text in mailing.recipients:
        try:
            found.append(parse_address(text))
        except BadAddress as error:
            raise MailRefused(f"job {job.id}: recipient {text!r}: {error}") from None
    return found


def envelope(
    job: Job, event: Event, mailing: Mailing, sender: Address, warnings: int = 0
) -> EmailMessage:
    """A mail with its headers and no body yet; MailRefused says which value to fix."""
    msg = EmailMessage()  # policy=default: folds long headers, refuses CR/LF in values
    msg["Subject"] = subject(job, event, warnings)
    msg["From"] = sender
    msg["To"] = recipients(job, mailing)
    msg["Date"] = format_datetime(event.at)
    msg["Message-ID"] = message_id(event, mailing, sender)
    msg["Auto-Submitted"] = "auto-generated"  # RFC 3834: no vacation replies to idsync
    msg["X-Idsync-Job"] = _ID_UNSAFE.sub("-", job.id)
    msg["X-Idsync-Run"] = _ID_UNSAFE.sub("-", event.run_id)
    return msg


def compose(
    job: Job,
    event: Event,
    run: RunStory,
    mailing: Mailing,
    sender: Address,
    *,
    attachments: Sequence[Attachment] = (),
    notes: Sequence[str] = (),
) -> EmailMessage:
    """The mail, plain text and HTML, with the attachments; MailRefused says what to fix."""
    warnings = max(run.warnings_total, len(run.warnings))
    msg = envelope(job, event, mailing, sender, warnings)
    title = job.display_title
    msg.set_content(body.text(title, run, event, list(notes)))
    msg.add_alternative(body.html_part(title, run, event, list(notes)), subtype="html")
    for item in attachments:
        params = {"charset": item.charset} if item.charset else None
        msg.add_attachment(
            item.content,
            maintype=item.maintype,
            subtype=item.subtype,
            filename=item.filename,
            params=params,
        )
    return msg
