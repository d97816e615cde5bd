"""The notifier: mails a job's recipients about its runs (notify.py does the work).

Without IDSYNC_SMTP_HOST it logs the mails it would send, and says once how to
configure mail. A mail configuration that cannot work stops the service at start,
naming the variable to fix, rather than failing at every run. At start it also
publishes its public key, which runners seal generated passwords to (keys.py).
"""

from __future__ import annotations

import nats.errors
from faststream.nats import NatsBroker

from schemas.events import CollectionEnded, Event
from services.common.bus import Bus
from services.common.consumers import subscribe_durable
from services.common.delivery import deliberately
from services.common.host import Background
from services.common.jetstream import NOTIFIER, NOTIFIER_COLLECTIONS

from .collection_mail import mail_collection
from .keys import key_path, load_or_create, publish_public_key
from .notify import HOW_TO_CONFIGURE, Notifier, log
from .smtp import SmtpConfig


def register(broker: NatsBroker, bus: Bus) -> list[Background]:
    config = SmtpConfig.from_settings(bus.settings)
    if config is None:
        log.info(HOW_TO_CONFIGURE)
    else:
        log.info("mail configured", server=config.where, sender=str(config.sender))
    key = load_or_create(key_path(bus.settings))
    notifier = Notifier(bus, config, key)
    subscribe_durable(
        bus,
        NOTIFIER,
        deliberately(bus, notifier.handle, notifier.give_up),
        batch_size=16,
        title="run outcomes",
    )

    async def on_collection(event: Event, attempt: int) -> None:
        if isinstance(event, CollectionEnded):
            await mail_collection(notifier, event)

    subscribe_durable(
        bus,
        NOTIFIER_COLLECTIONS,
        deliberately(bus, on_collection),
        batch_size=4,
        title="collection outcomes",
    )

    async def publish_key() -> None:
        try:
            await publish_public_key(bus.js, key)
        except nats.errors.Error as error:  # e.g. not permitted: say so, keep mailing
            why = str(error) or type(error).__name__
            log.error(
                "cannot publish the notifier's public key: runners cannot seal "
                "generated passwords for it",
                error=why,
            )

    return [publish_key]
