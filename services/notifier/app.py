"""The notifier: for now it logs the mail it would send when a run ends."""

from __future__ import annotations

from faststream.nats import NatsBroker

from schemas.events import Event, RunFailed, RunFinished, is_end, tag_of
from services.common.bus import Bus
from services.common.consumers import subscribe_durable
from services.common.delivery import deliberately
from services.common.host import Background
from services.common.jetstream import NOTIFIER
from services.common.logging import get_logger

log = get_logger("idsync.notifier")


def summary(event: Event) -> str:
    """The subject line a recipient would read."""
    match event:
        case RunFinished(stats=stats, with_errors=with_errors):
            state = "finished with errors" if with_errors else "finished"
            return (
                f"[idsync] {event.job_id}: {state} — {stats.created} created, "
                f"{stats.updated} updated, {stats.deleted} deleted, "
                f"{stats.failed} failed"
            )
        case RunFailed(reason=reason):
            return f"[idsync] {event.job_id}: failed — {reason}"
        case _:
            return f"[idsync] {event.job_id}: {tag_of(event).removeprefix('run.')}"


def register(broker: NatsBroker, bus: Bus) -> list[Background]:
    async def on_event(event: Event, attempt: int) -> None:
        if is_end(event):
            log.info("would send mail", subject=summary(event))

    subscribe_durable(
        bus, NOTIFIER, deliberately(bus.settings, on_event), batch_size=16, title="run outcomes"
    )
    return []
