"""The runners alive, for the metrics (`idsync_runners_alive`, `idsync_runners_silent`):
counted by the workflow, of which there is always one, so the figure is there even when
no runner is."""

from __future__ import annotations

from schemas.ids import utcnow
from services.common import metrics
from services.common.bus import Bus
from services.common.loops import idle
from services.common.runners import runners


async def count_runners(bus: Bus) -> None:
    """Every heartbeat interval, while the metrics are on: read the runners bucket."""
    while metrics.enabled():
        try:
            found = await runners(bus.js)
        except Exception:  # the server is away: keep the last figures until it is back
            found = None
        if found is not None:
            now = utcnow()
            silent = sum(1 for runner in found if runner.silent_for(now))
            metrics.RUNNERS_ALIVE.set(len(found) - silent)
            metrics.RUNNERS_SILENT.set(silent)
        await idle(bus.settings.heartbeat_interval)
