"""`idsync up`: NATS (embedded, unless IDSYNC_NATS_URL is set) and every service, in the
foreground."""

from __future__ import annotations

import argparse
import asyncio
import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager, suppress

from core.errors import BadInput, Refused, Unreachable
from services.common import users
from services.common.embedded import EmbeddedNats
from services.common.service_names import SERVICES
from services.common.settings import URL_FILE, Settings

from .client import open_connection
from .serve import stop_on_signals


@asynccontextmanager
async def embedded_server(settings: Settings) -> AsyncIterator[str]:
    """The embedded nats-server under IDSYNC_HOME; its URL file, where commands find it, is
    removed on the way out (`serving` writes it once the services answer)."""
    url_file = settings.home / URL_FILE
    if url_file.is_file() and await _answers(url_file.read_text().strip()):
        raise BadInput(
            f"idsync is already up at {url_file.read_text().strip()} "
            f"(IDSYNC_HOME={settings.home}); stop it first"
        )
    # Every service and the person starting it get a user; the server checks who may
    # publish and read what (services/common/access.py).
    await asyncio.to_thread(users.prepare, settings.home, settings.principal)
    server = EmbeddedNats(settings.home / "nats", authorization=users.auth_path(settings.home))
    url = await asyncio.to_thread(server.start)
    try:
        yield url
    finally:
        with suppress(FileNotFoundError):
            url_file.unlink()
        await asyncio.to_thread(server.stop)


async def _answers(url: str) -> bool:
    try:
        nc = await open_connection(url, timeout=1)
    except Refused:
        return True  # a server that asks who we are: something is up there
    except Unreachable:
        return False
    await nc.close()
    return True


async def up(args: argparse.Namespace) -> int:
    from services.common.host import run_services  # FastStream: loaded to serve, not to start

    settings: Settings = args.settings
    stop = stop_on_signals()
    # The SCIM endpoint and the portal listen only where a port is chosen for them.
    names = (
        *SERVICES,
        *(["scim_endpoint"] if settings.scim_port is not None else []),
        *(["portal"] if settings.portal_port is not None else []),
    )
    if settings.nats_url:
        print(f"idsync: services up against {settings.nats_url} (Ctrl-C stops)", file=sys.stderr)
        await run_services(names, settings, settings.nats_url, stop)
        return 0
    async with embedded_server(settings) as url:
        ready = asyncio.Event()
        serving = asyncio.create_task(run_services(names, settings, url, stop, ready))
        waiting = asyncio.create_task(ready.wait())
        await asyncio.wait([serving, waiting], return_when=asyncio.FIRST_COMPLETED)
        waiting.cancel()
        if ready.is_set():
            # Only now do commands find the server: every service answers them already.
            (settings.home / URL_FILE).write_text(url + "\n")
            print(
                f"idsync is up: NATS at {url} (store in {settings.home / 'nats'}), "
                f"services: {', '.join(names)}. You are {settings.principal} "
                f"(`idsync user add NAME` adds others). Ctrl-C stops.",
                file=sys.stderr,
            )
        await serving
    return 0
