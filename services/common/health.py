"""A service process's HTTP side for operators, on IDSYNC_METRICS_HOST:IDSYNC_METRICS_PORT:

- `GET /metrics`: Prometheus's text format (services/common/metrics.py, and FastStream's
  `idsync_messaging_*`);
- `GET /healthz`: liveness — 200 while the process's event loop answers;
- `GET /readyz`: readiness — 200 once every service of the process is connected to NATS
  with its consumers bound, 503 with what is missing otherwise.

Starlette's routes served inside the services' own event loop (http_serving.py, as the
SCIM endpoint and the portal are). Port 0: any free port, written to IDSYNC_HOME/metrics.url, where
`idsync doctor` looks for it.
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
from collections.abc import Callable

from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from core.errors import BadInput

from . import metrics
from .http_serving import serving
from .logging import get_logger
from .settings import METRICS_URL_FILE, Settings

log = get_logger("idsync.health")

Readiness = Callable[[], list[str]]
"""What keeps the process from being ready (empty: ready)."""


def app(readiness: Readiness) -> Starlette:
    async def scrape(request: Request) -> Response:
        metrics.READY.set(0 if readiness() else 1)
        return Response(generate_latest(metrics.REGISTRY), media_type=CONTENT_TYPE_LATEST)

    async def healthz(request: Request) -> Response:
        return JSONResponse({"status": "alive"})

    async def readyz(request: Request) -> Response:
        missing = readiness()
        if missing:
            return JSONResponse({"status": "not ready", "missing": missing}, 503)
        return JSONResponse({"status": "ready"})

    return Starlette(
        routes=[
            Route("/metrics", scrape),
            Route("/healthz", healthz),
            Route("/readyz", readyz),
        ]
    )


def listen(settings: Settings) -> socket.socket:
    """The metrics port, bound now: one in use stops the process at its start, saying so."""
    port = settings.metrics_port or 0
    try:
        return socket.create_server((settings.metrics_host, port))
    except OSError as error:
        raise BadInput(
            f"cannot serve the metrics on {settings.metrics_host}:{port} "
            f"(IDSYNC_METRICS_HOST, IDSYNC_METRICS_PORT): {error.strerror or error}; "
            "choose another port, or 0 for any free one"
        ) from None


async def serve(
    settings: Settings, listener: socket.socket, readiness: Readiness, stop: asyncio.Event
) -> None:
    """Serve the operators' endpoints on `listener` until `stop` is set."""
    written = settings.home / METRICS_URL_FILE
    async with serving(app(readiness), listener) as url:
        if settings.metrics_port == 0:
            settings.home.mkdir(parents=True, exist_ok=True)
            written.write_text(url + "\n")
        log.info("metrics and health served", url=url)
        try:
            await stop.wait()
        finally:
            with contextlib.suppress(OSError):  # gone: `idsync doctor` asks it no more
                if settings.metrics_port == 0 and written.read_text().strip() == url:
                    written.unlink()
