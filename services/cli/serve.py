"""`idsync serve`: some services against a NATS server, in the foreground."""

from __future__ import annotations

import argparse
import asyncio
import signal

from services.common.settings import Settings


def stop_on_signals() -> asyncio.Event:
    """An event set by Ctrl-C or SIGTERM, for a clean stop."""
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    return stop


async def serve(args: argparse.Namespace) -> int:
    from services.common.host import run_services  # FastStream: loaded to serve, not to start

    settings: Settings = args.settings
    url = settings.resolve_nats_url()
    await run_services(args.services, settings, url, stop_on_signals())
    return 0
