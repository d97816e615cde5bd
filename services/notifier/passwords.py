"""Mailing generated passwords: opened with the notifier's private key, mailed only to the
job's `password` recipients, then dropped.

The passwords live in this call's variables and in the mail the server accepted —
never in a log line, an event, the sent-mail record or a report. A sealed password
that cannot be opened, or that was sealed for another record, is left out and named
(key and field only) in `run.notify-failed`. With no recipient, or no mail server,
the passwords cannot reach anyone: the run says so.
"""

from __future__ import annotations

import hashlib
from email.message import EmailMessage
from typing import TYPE_CHECKING

from schemas.events import RunPasswordsSealed
from schemas.jobs import Job

from .keys import Unopened, open_sealed
from .password_mail import Opened, compose_passwords
from .triggers import Mailing

if TYPE_CHECKING:
    from .notify import Notifier

NOBODY = Mailing(recipients=())


async def mail_passwords(
    notifier: Notifier, job: Job, event: RunPasswordsSealed, wanted: list[Mailing]
) -> None:
    count = len(event.passwords)
    if not count:
        return
    if not wanted and not any(item.to for item in event.passwords):
        why = 'no recipient for generated passwords: add [[notify]] with trigger = "password"'
        await notifier.report(event, NOBODY, f"{count} passwords not mailed: {why} to the job")
        return
    config = notifier.config
    if config is None:
        why = "mail is not configured (IDSYNC_SMTP_HOST)"
        await notifier.report(event, NOBODY, f"{count} passwords not mailed: {why}")
        return
    opened: list[Opened] = []
    unopened: list[str] = []
    for item in event.passwords:
        try:
            password = open_sealed(notifier.key, event, item)
        except Unopened as why:
            unopened.append(f"{item.key} ({item.field}): {why}")
            continue
        opened.append(Opened(key=item.key, field=item.field, password=password, to=item.to))
    if unopened:
        reason = f"{len(unopened)} of {count} passwords not mailed: " + "; ".join(unopened)
        await notifier.report(event, NOBODY, reason, part="unopened")
    if not opened:
        return

    async def build(mailing: Mailing) -> EmailMessage:
        return compose_passwords(job, event, mailing, config.sender, opened, unopened)

    try:
        for mailing in wanted:
            await notifier.send_one(config, job, event, mailing, build)
        for mailing, theirs in by_record_recipient(opened):
            # Each record's recipient (its manager) gets its own records' passwords alone.
            async def only_theirs(m: Mailing, mine: list[Opened] = theirs) -> EmailMessage:
                return compose_passwords(job, event, m, config.sender, mine, [])

            await notifier.send_one(config, job, event, mailing, only_theirs)
    finally:
        opened.clear()  # nothing of them outlives this call (a retry opens them again)


def by_record_recipient(opened: list[Opened]) -> list[tuple[Mailing, list[Opened]]]:
    """One mail per address records name, holding those records' passwords."""
    groups: dict[str, list[Opened]] = {}
    for item in opened:
        if item.to:
            groups.setdefault(item.to.strip().casefold(), []).append(item)
    return [
        (Mailing(recipients=(items[0].to or "",), label=f"to-{_short(address)}"), items)
        for address, items in groups.items()
    ]


def _short(address: str) -> str:
    """A stable tag for an address, for its mail's Message-ID (the same on redelivery)."""
    return hashlib.sha256(address.encode()).hexdigest()[:12]
