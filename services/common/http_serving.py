"""Serving an HTTP application (ASGI) inside a service: on a listening socket of its own,
its URL written where commands and tests find it, until the service stops. The SCIM
endpoint and the portal serve this way."""

from __future__ import annotations

import asyncio
import contextlib
import socket
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import uvicorn
from starlette.types import ASGIApp

from .logging import get_logger

log = get_logger("idsync.http")
STOP_WAIT = 5.0
"""Seconds a stopping server is given to finish the requests under way."""


class _Server(uvicorn.Server):
    """uvicorn without its signal handlers: the host stops the service."""

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        yield


@contextlib.asynccontextmanager
async def serving(app: ASGIApp, listener: socket.socket) -> AsyncIterator[str]:
    """uvicorn serves `app` on `listener` while the block runs; its URL is given. At the
    block's end (or cancellation) the server is told to finish and given five seconds."""
    # Answers go out as they are written: without it a body waits ~40 ms for the client's
    # delayed acknowledgement of its headers (Nagle's algorithm). Set on the listener,
    # each accepted connection has it (asyncio sets it only on sockets made with
    # IPPROTO_TCP, which create_server's are not).
    listener.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    host, port = listener.getsockname()[:2]
    config = uvicorn.Config(app, log_level="warning", access_log=False, lifespan="off")
    server = _Server(config)
    task = asyncio.create_task(server.serve(sockets=[listener]))
    try:
        yield f"http://{host}:{port}"
    finally:
        server.should_exit = True
        with contextlib.suppress(Exception):
            await asyncio.wait_for(task, STOP_WAIT)
        listener.close()


async def serve_http(
    app: ASGIApp, host: str, port: int | None, url_file: Path, what: str, shown: str = ""
) -> None:
    """Serve `app` on `host`:`port` (a free port when None or 0) until cancelled; its URL
    in `url_file`; `what` is listening at the URL followed by `shown` (log line)."""
    async with serving(app, socket.create_server((host, port or 0))) as url:
        _write_url(url_file, url)
        log.info(f"{what} listening", url=url + shown)
        await asyncio.Event().wait()


def _write_url(url_file: Path, url: str) -> None:
    """Where commands and tests find the service (a few bytes, written once at the start)."""
    url_file.parent.mkdir(parents=True, exist_ok=True)
    url_file.write_text(url + "\n")
