"""The portal service: the HTTP API and the pages people use (http.py), talking to the
other services only over NATS — commands in the name of whoever is signed in, the
buckets, the journal and the recorder's history. It opens no data source.

FastAPI gives the routes, typed parameters with their errors, and the OpenAPI document
from the code; uvicorn serves them inside this service's own event loop, next to its
NATS connection. The portal listens on IDSYNC_PORTAL_HOST:IDSYNC_PORTAL_PORT (port 0: a
free one) and writes its URL to IDSYNC_HOME/portal.url.
"""

from __future__ import annotations

from faststream.nats import NatsBroker

from services.common.bus import Bus
from services.common.host import Background
from services.common.http_serving import serve_http

from .http import application
from .portal import Portal

URL_FILE = "portal.url"


def register(broker: NatsBroker, bus: Bus) -> list[Background]:
    settings = bus.settings

    async def serve() -> None:
        portal = Portal(bus)
        try:
            await serve_http(
                application(portal),
                settings.portal_host,
                settings.portal_port,
                settings.home / URL_FILE,
                "portal",
            )
        finally:
            await portal.catalogue.stop()

    return [serve]
