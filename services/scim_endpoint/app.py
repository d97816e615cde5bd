"""The SCIM endpoint service: other systems push users to idsync over SCIM (http.py).

Starlette gives the routes and requests, typed and small; uvicorn serves them inside
this service's own event loop, next to its NATS connection, so a push is stored and its
run asked for without a thread or a second process. The endpoint listens on
IDSYNC_SCIM_HOST:IDSYNC_SCIM_PORT (port 0: a free one) and writes its URL to
IDSYNC_HOME/scim.url.
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

from .http import Endpoint

URL_FILE = "scim.url"
log = get_logger("idsync.scim_endpoint")


class _Server(uvicorn.Server):
    """uvicorn without its signal handlers: the host stops the service."""

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        yield


def register(broker: NatsBroker, bus: Bus) -> list[Background]:
    settings = bus.settings

    async def serve() -> None:
        port = settings.scim_port if settings.scim_port is not None else 0
        listener = socket.create_server((settings.scim_host, port))
        host, bound = listener.getsockname()[:2]
        config = uvicorn.Config(
            Endpoint(bus).app(), log_level="warning", access_log=False, lifespan="off"
        )
        server = _Server(config)
        url = f"http://{host}:{bound}"
        settings.home.mkdir(parents=True, exist_ok=True)
        (settings.home / URL_FILE).write_text(url + "\n")
        log.info("SCIM endpoint listening", url=f"{url}/scim/<job>/v2")
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

    return [serve]
