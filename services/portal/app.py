"""The portal service: the HTTP API and the pages people use (http.py), talking to the
other services only over NATS — commands in the name of whoever is signed in, the
buckets, the journal and the recorder's history. It opens no data source.

FastAPI gives the routes, typed parameters with their errors, and the OpenAPI document
from the code; uvicorn serves them inside this service's own event loop, next to its
NATS connection. The portal listens on IDSYNC_PORTAL_HOST:IDSYNC_PORTAL_PORT (port 0: a
free one) and writes its URL to IDSYNC_HOME/portal.url.
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
from collections.abc import Iterator

import uvicorn
from faststream.nats import NatsBroker

from services.common.bus import Bus
from services.common.host import Background
from services.common.logging import get_logger

from .http import application
from .portal import Portal

URL_FILE = "portal.url"
log = get_logger("idsync.portal")


class _Server(uvicorn.Server):
    """uvicorn without its signal handlers: the host stops the service."""

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        yield


def register(broker: NatsBroker, bus: Bus) -> list[Background]:
    settings = bus.settings

    async def serve() -> None:
        port = settings.portal_port if settings.portal_port is not None else 0
        listener = socket.create_server((settings.portal_host, port))
        # Answers go out as they are written: without it a page's body waits ~40 ms for
        # the browser's delayed acknowledgement of its headers (Nagle's algorithm). Set on
        # the listener, each accepted connection has it (asyncio sets it only on sockets
        # made with IPPROTO_TCP, which create_server's are not).
        listener.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        host, bound = listener.getsockname()[:2]
        portal = Portal(bus)
        config = uvicorn.Config(
            application(portal), log_level="warning", access_log=False, lifespan="off"
        )
        server = _Server(config)
        url = f"http://{host}:{bound}"
        settings.home.mkdir(parents=True, exist_ok=True)
        (settings.home / URL_FILE).write_text(url + "\n")
        log.info("portal listening", url=url)
        task = asyncio.create_task(server.serve(sockets=[listener]))
        try:
            await asyncio.shield(task)
        except asyncio.CancelledError:
            server.should_exit = True
            with contextlib.suppress(Exception):
                await asyncio.wait_for(task, 5)
            raise
        finally:
            listener.close()
            await portal.catalogue.stop()

    return [serve]
