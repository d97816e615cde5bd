"""The mail carrying generated passwords (pure): the records, their fields and passwords,
as text and HTML, and nothing else — no attachment, no copy anywhere else."""

from __future__ import annotations

import html
from email.headerregistry import Address
from email.message import EmailMessage

import msgspec

from schemas.events import RunPasswordsSealed
from schemas.jobs import Job

from .compose import envelope
from .triggers import Mailing


class Opened(msgspec.Struct, frozen=True, kw_only=True):
    key: str
    field: str
    password: str
    to: str | None = None
    """The record's own recipient (its manager, say), if the job names a field for it."""

    def __repr__(self) -> str:  # never shown by accident in a log or a traceback
        return f"Opened(key={self.key!r}, field={self.field!r})"


def compose_passwords(
    job: Job,
    event: RunPasswordsSealed,
    mailing: Mailing,
    sender: Address,
    opened: list[Opened],
    unopened: list[str],
) -> EmailMessage:
    """The passwords mail; `unopened` says which records' passwords it could not hold."""
    msg = envelope(job, event, mailing, sender)
    title = job.display_title
    intro = (
        f"The run {event.run_id} of {title} ({job.id}) created these records with generated "
        "passwords. Hand each one over in a safe way and delete this mail: idsync keeps no "
        "copy."
    )
    lines = [intro, ""]
    lines += [f"{item.key}  {item.field}  {item.password}" for item in opened]
    if unopened:
        lines += ["", "Not included (ask for a new password for these records):"]
        lines += [f"  {line}" for line in unopened]
    msg.set_content("\n".join(lines) + "\n")
    e = html.escape
    rows = "".join(
        f"<tr><td>{e(item.key)}</td><td>{e(item.field)}</td>"
        f"<td><code>{e(item.password)}</code></td></tr>"
        for item in opened
    )
    parts = [
        f"<p>{e(intro)}</p>",
        "<table cellpadding='4' border='1'><tr><th>record</th><th>field</th>"
        f"<th>password</th></tr>{rows}</table>",
    ]
    if unopened:
        items = "".join(f"<li>{e(line)}</li>" for line in unopened)
        parts.append(
            f"<p>Not included (ask for a new password for these records):</p><ul>{items}</ul>"
        )
    msg.add_alternative(
        "<!DOCTYPE html><html><body>" + "\n".join(parts) + "</body></html>\n", subtype="html"
    )
    return msg
