"""Mailing the people a job names when one of its runs does what they asked to hear of.

For each event: the job's notifications it fires (triggers.py), the run as it stood
(core/runs.py, from the journal), the mail (compose.py, with the change report from
attachments.py), sent once (smtp.py); generated passwords go their own way
(passwords.py). Sent Message-IDs are kept in a bucket, so an
event delivered again after its mail went out is not mailed again; a mail can go out
twice only if the notifier stops between the server's acceptance and that record.
A mail that can never go (a job value that cannot be put in a mail, recipients the
server refuses for good) is reported on the run at once as `run.notify-failed`; one
that fails for a passing reason raises, to be retried, and is reported after the last
attempt (`give_up`).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from email.message import EmailMessage

import msgspec
import nats.js.errors
from nacl.public import PrivateKey
from nats.js.kv import KeyValue

from core.runs import story_at
from schemas.event_ids import notify_failed_id
from schemas.events import Event, RunNotifyFailed, RunPasswordsSealed, tag_of
from schemas.ids import utcnow
from schemas.jobs import Job
from services.common.bus import Bus
from services.common.jetstream import MAIL_BUCKET
from services.common.logging import get_logger
from services.common.reading import run_events

from .attachments import change_reports
from .compose import MailRefused, compose, message_id, recipients, subject
from .passwords import mail_passwords
from .smtp import SmtpConfig, Undeliverable, send
from .triggers import Mailing, asks_withheld, fired, mailings

Build = Callable[[Mailing], Awaitable[EmailMessage]]

log = get_logger("idsync.notifier")

HOW_TO_CONFIGURE = (
    "mail is not configured, so the notifier only logs the mails it would send: set "
    "IDSYNC_SMTP_HOST (with IDSYNC_SMTP_PORT, IDSYNC_SMTP_SECURITY, IDSYNC_SMTP_USER and "
    "IDSYNC_SMTP_PASSWORD_ENV or _FILE as your server needs) and IDSYNC_MAIL_FROM; "
    "docs/notifications.md says more"
)


class SentMail(msgspec.Struct, frozen=True, kw_only=True):
    message_id: str
    to: list[str]
    subject: str
    sent_at: str


class Notifier:
    def __init__(self, bus: Bus, config: SmtpConfig | None, key: PrivateKey) -> None:
        self.bus = bus
        self.config = config
        self.key = key
        """Opens the passwords runners seal to its public key (passwords.py)."""
        self._sent: KeyValue | None = None

    async def handle(self, event: Event, attempt: int) -> None:
        """Send the mails `event` calls for (raises on a passing failure: retried)."""
        if not fired(event):
            return
        job = await self.bus.store.find_job(event.job_id)
        if job is None:
            log.info("no mail: the job no longer exists", about=tag_of(event))
            return
        wanted = mailings(job, event, withheld=await self.withheld(job, event))
        if isinstance(event, RunPasswordsSealed):
            await mail_passwords(self, job, event, wanted)
            return
        if not wanted:
            return
        config = self.config
        if config is None:
            for mailing in wanted:
                self._would_send(job, event, mailing)
            return
        events = await run_events(self.bus.broker.connection, job.id, event.run_id)
        run = story_at(events, event)

        async def build(mailing: Mailing) -> EmailMessage:
            files, notes = await change_reports(self.bus, run, mailing.attach)
            return compose(job, event, run, mailing, config.sender, attachments=files, notes=notes)

        for mailing in wanted:
            await self.send_one(config, job, event, mailing, build)

    async def withheld(self, job: Job, event: Event) -> bool:
        """Whether the run's plan withheld absence (triggers.fired), read from its events
        only where the mails depend on it."""
        if not asks_withheld(job, event):
            return False
        events = await run_events(self.bus.broker.connection, job.id, event.run_id)
        return story_at(events, event).absence_withheld

    async def send_one(
        self, config: SmtpConfig, job: Job, event: Event, mailing: Mailing, build: Build
    ) -> None:
        """Build and send one mail unless its Message-ID was sent already; a mail that can
        never go is reported on the run, a passing failure raises."""
        mid = message_id(event, mailing, config.sender)
        key = mid.strip("<>").partition("@")[0]
        if await self._was_sent(key):
            log.info("mail already sent", message_id=mid)
            return
        try:
            msg = await build(mailing)
            to = [address.addr_spec for address in recipients(job, mailing)]
            refused = await send(config, msg, to)
        except (MailRefused, Undeliverable) as error:
            log.error("mail refused", message_id=mid, error=str(error))
            await self.report(event, mailing, str(error), mid)
            return
        sent = SentMail(
            message_id=mid, to=to, subject=str(msg["Subject"]), sent_at=utcnow().isoformat()
        )
        await (await self._bucket()).put(key, msgspec.json.encode(sent))
        log.info(
            "mail sent",
            message_id=mid,
            to=len(to),
            refused=len(refused),
            attachments=list(mailing.attach),
        )
        if refused:
            answers = "; ".join(f"{rcpt}: {answer}" for rcpt, answer in refused.items())
            await self.report(
                event, mailing, f"the mail server refused {answers}", mid, only=list(refused)
            )

    def _would_send(self, job: Job, event: Event, mailing: Mailing) -> None:
        try:
            title = subject(job, event)
        except MailRefused as error:
            title = f"(refused: {error})"
        log.info(
            "would send mail",
            subject=title,
            to=list(mailing.recipients),
            attach=list(mailing.attach),
        )

    async def give_up(self, event: Event, error: BaseException) -> None:
        """After the last attempt: say on the run which mails did not go, and why."""
        if self.config is None or not fired(event):
            return
        job = await self.bus.store.find_job(event.job_id)
        withheld = job is not None and await self.withheld(job, event)
        for mailing in mailings(job, event, withheld=withheld) if job is not None else []:
            mid = message_id(event, mailing, self.config.sender)
            if not await self._was_sent(mid.strip("<>").partition("@")[0]):
                reason = f"not sent after {self.bus.settings.max_deliver} attempts: {error}"
                await self.report(event, mailing, reason, mid)

    async def report(
        self,
        event: Event,
        mailing: Mailing,
        reason: str,
        mid: str = "",
        only: list[str] | None = None,
        part: str | None = None,
    ) -> None:
        """`run.notify-failed` for the mail `mailing` (`part` tells several reports apart)."""
        await self.bus.publish(
            RunNotifyFailed(
                run_id=event.run_id,
                job_id=event.job_id,
                id=notify_failed_id(event.id, part or mailing.part),
                reason=reason,
                about=tag_of(event),
                recipients=only or list(mailing.recipients),
                message_id=mid,
            )
        )

    async def sent_bucket(self) -> KeyValue:
        return await self._bucket()

    async def was_sent(self, key: str) -> bool:
        return await self._was_sent(key)

    async def _bucket(self) -> KeyValue:
        if self._sent is None:
            self._sent = await self.bus.js.key_value(MAIL_BUCKET)
        return self._sent

    async def _was_sent(self, key: str) -> bool:
        try:
            entry = await (await self._bucket()).get(key)
        except (nats.js.errors.KeyNotFoundError, nats.js.errors.KeyDeletedError):
            return False
        return entry.value is not None
