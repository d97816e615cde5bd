"""Serving an HTTP application (ASGI) inside a service: on a listening socket of its own,
its URL written where commands and tests find it, until the service stops. The SCIM
endpoint and the portal serve this way."""

from __future__ import annotations

import asyncio
import contextlib
import socket
from collections.abc import Iterator
from pathlib import Path

import uvicorn
from starlette.types import ASGIApp

from .logging import get_logger

log = get_logger("idsync.http")


class _Server(uvicorn.Server):
    """uvicorn without its signal handlers: the host stops the service."""

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        yield


def _write_url(url_file: Path, url: str) -> None:
    """Where commands and tests find the service (a few bytes, written once at the start)."""
    url_file.parent.mkdir(parents=True, exist_ok=True)
    url_file.write_text(url + "\n")


async def serve_http(
    app: ASGIApp, host: str, port: int | None, url_file: Path, what: str, shown: str = ""
) -> None:
    """Serve `app` on `host`:`port` (a free port when None or 0) until cancelled; its URL
    in `url_file`; `what` is listening at the URL followed by `shown` (log line)."""
    listener = socket.create_server((host, port or 0))
    # Answers go out as they are written: without it a body waits ~40 ms for the client's
    # delayed acknowledgement of its headers (Nagle's algorithm). Set on the listener,
    # each accepted connection has it (asyncio sets it only on sockets made with
    # IPPROTO_TCP, which create_server's are not).
    listener.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    bound_host, bound = listener.getsockname()[:2]
    config = uvicorn.Config(app, log_level="warning", access_log=False, lifespan="off")
    server = _Server(config)
    url = f"http://{bound_host}:{bound}"
    _write_url(url_file, url)
    log.info(f"{what} listening", url=url + shown)
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
