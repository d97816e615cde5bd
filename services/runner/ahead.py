"""What a runner loads as it starts, so that its first run does not: the working modules
of the providers its connections name (their drivers with them), and the asyncio backend
FastStream's handlers otherwise load at the first message they take. A run's first read
took some 40 ms for each of them."""

from __future__ import annotations

import asyncio

import anyio
import anyio.lowlevel

from services.common.bus import Bus
from services.common.logging import get_logger
from services.providers import load_providers

log = get_logger("runner")


async def load_ahead(bus: Bus) -> None:
    await anyio.lowlevel.checkpoint()  # anyio's asyncio backend, loaded by its first use
    try:
        connections = await bus.store.connections()
        loaded = await asyncio.to_thread(load_providers, connections)
    except Exception as error:  # loading ahead only saves time: opening a provider loads
        log.info("providers not loaded ahead", error=str(error) or type(error).__name__)
        return
    log.debug("providers loaded ahead", providers=loaded)
