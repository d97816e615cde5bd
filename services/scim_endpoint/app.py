"""The SCIM endpoint service: other systems push users to idsync over SCIM (http.py).

Starlette gives the routes and requests, typed and small; uvicorn serves them inside
this service's own event loop, next to its NATS connection, so a push is stored and its
run asked for without a thread or a second process. The endpoint listens on
IDSYNC_SCIM_HOST:IDSYNC_SCIM_PORT (port 0: a free one) and writes its URL to
IDSYNC_HOME/scim.url.
"""

from __future__ import annotations

from faststream.nats import NatsBroker

from services.common.bus import Bus
from services.common.host import Background
from services.common.http_serving import serve_http

from .http import Endpoint

URL_FILE = "scim.url"


def register(broker: NatsBroker, bus: Bus) -> list[Background]:
    settings = bus.settings

    async def serve() -> None:
        await serve_http(
            Endpoint(bus).app(),
            settings.scim_host,
            settings.scim_port,
            settings.home / URL_FILE,
            "SCIM endpoint",
            "/scim/<job>/v2",
        )

    return [serve]
