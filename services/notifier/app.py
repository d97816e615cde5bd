"""The notifier: mails a job's recipients about its runs (notify.py does the work).

Without IDSYNC_SMTP_HOST it logs the mails it would send, and says once how to
configure mail. A mail configuration that cannot work stops the service at start,
naming the variable to fix, rather than failing at every run.
"""

from __future__ import annotations

from faststream.nats import NatsBroker

from services.common.bus import Bus
from services.common.consumers import subscribe_durable
from services.common.delivery import deliberately
from services.common.host import Background
from services.common.jetstream import NOTIFIER

from .notify import HOW_TO_CONFIGURE, Notifier, log
from .smtp import SmtpConfig


def register(broker: NatsBroker, bus: Bus) -> list[Background]:
    config = SmtpConfig.from_settings(bus.settings)
    if config is None:
        log.info(HOW_TO_CONFIGURE)
    else:
        log.info("mail configured", server=config.where, sender=str(config.sender))
    notifier = Notifier(bus, config)
    subscribe_durable(
        bus,
        NOTIFIER,
        deliberately(bus.settings, notifier.handle, notifier.give_up),
        batch_size=16,
        title="run outcomes",
    )
    return []
