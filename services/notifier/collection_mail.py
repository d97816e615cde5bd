"""One summary mail per collection run, to the recipients of the collection's `notify`:
how it ended and each job's outcome with its run and what it did (`idsync run show RUN`
tells each), and what they did in all.
Triggers: always; errors (a job failed or finished with record errors); failed (the
collection did not finish every job: aborted, cancelled or finished with failures).
Sent once per Message-ID, as run mails are."""

from __future__ import annotations

from email.message import EmailMessage
from email.utils import format_datetime

import msgspec

from core.checks.addresses import parse_address
from core.collections import FAILURES, step_lines
from schemas.collections import Collection
from schemas.events import CollectionEnded
from schemas.ids import utcnow

from .notify import Notifier, SentMail, log
from .smtp import send


def wanted(collection: Collection, event: CollectionEnded) -> list[list[str]]:
    """The recipient lists whose trigger the collection run's end fires."""
    errors = any(s.outcome in FAILURES or s.outcome == "finished with errors" for s in event.steps)
    fired = {"always"} | ({"errors"} if errors else set())
    if event.outcome != "finished":
        fired.add("failed")
    return [
        note.recipients for note in collection.notify if note.trigger in fired and note.recipients
    ]


def summary(collection: Collection, event: CollectionEnded) -> str:
    lines = [
        f"Collection {collection.display_title} ({collection.id}): {event.outcome}"
        + (f" by {event.by}" if event.by else ""),
        f"Collection run: {event.run_id}",
        "",
    ]
    lines += step_lines(event.steps)
    lines += ["", f"idsync collection show {collection.id} lists its recent runs."]
    return "\n".join(lines) + "\n"


async def mail_collection(notifier: Notifier, event: CollectionEnded) -> None:
    collection = await notifier.bus.store.find_collection(event.job_id)
    if collection is None:
        return
    config = notifier.config
    for part, recipients in enumerate(wanted(collection, event), 1):
        title = f"idsync: collection {collection.display_title} {event.outcome}"
        if config is None:
            log.info("would send mail", subject=title, to=recipients)
            continue
        domain = config.sender.domain or "idsync.invalid"
        key = f"{event.id}.{part}".replace("/", "-")
        if await notifier.was_sent(key):
            continue
        msg = EmailMessage()
        msg["Subject"] = title
        msg["From"] = config.sender
        msg["To"] = [parse_address(r) for r in recipients]
        msg["Date"] = format_datetime(event.at)
        msg["Message-ID"] = f"<{key}@{domain}>"
        msg["Auto-Submitted"] = "auto-generated"
        msg["X-Idsync-Collection"] = collection.id
        msg.set_content(summary(collection, event))
        to = [parse_address(r).addr_spec for r in recipients]
        await send(config, msg, to)
        sent = SentMail(
            message_id=str(msg["Message-ID"]), to=to, subject=title, sent_at=utcnow().isoformat()
        )
        await (await notifier.sent_bucket()).put(key, msgspec.json.encode(sent))
        log.info("collection mail sent", collection=collection.id, to=len(to))
