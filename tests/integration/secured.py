"""A server with the configuration `idsync up` writes: users, passwords, permissions.

People: alice (who started it), bob and carol (group `approvers`), dave (no group),
and crm, another system. The services run in this process, each as its own user.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from pathlib import Path

import msgspec
import nats
import pytest
from nats.aio.client import Client

from services.cli.client import Session, connect
from services.common import access, credentials, users
from services.common.definitions import load_connections, load_job
from services.common.embedded import EmbeddedNats
from services.common.host import run_services
from services.common.service_names import SERVICES
from services.common.settings import Settings

from .conftest import Files, started

APPROVAL = """\
owners = ["alice"]
approval = { approvers = ["group:approvers"], expire_after = "1h" }
"""


@pytest.fixture
def home(tmp_path: Path) -> Path:
    place = tmp_path / "home"
    users.prepare(place, "alice")
    for principal, groups in (("bob", ["approvers"]), ("carol", ["approvers"]), ("dave", [])):
        users.add_person(place, principal, groups, system=False)
    users.add_person(place, "crm", [], system=True)
    return place


@pytest.fixture
def secured_server(home: Path) -> Iterator[EmbeddedNats]:
    server = EmbeddedNats(home / "nats", authorization=users.auth_path(home))
    server.start()
    yield server
    server.stop()


@pytest.fixture
def secure(secured_server: EmbeddedNats, home: Path) -> Settings:
    return Settings(
        home=home,
        nats_url=secured_server.url,
        principal="alice",
        runner_id="secured-runner",
        ack_wait=3.0,
        max_deliver=5,
        retry_delay=0.3,
        scheduler_tick=0.1,
        merge_window=1.0,
    )


def as_(settings: Settings, principal: str) -> Settings:
    return msgspec.structs.replace(settings, principal=principal)


Running = Callable[..., AbstractAsyncContextManager[None]]


@pytest.fixture
def secured_services(secure: Settings) -> Running:
    """`async with secured_services():` — every service, each as its own user."""

    @asynccontextmanager
    async def running(*names: str, refused: tuple[str, ...] = ()) -> AsyncIterator[None]:
        """`refused`: subjects a test makes a service publish on purpose."""
        log = secure.home / "nats" / "nats.log"
        seen = log.read_text().count("\n") if log.exists() else 0
        stop, ready = asyncio.Event(), asyncio.Event()
        task = asyncio.create_task(
            run_services(names or SERVICES, secure, secure.nats_url or "", stop, ready)
        )
        await started(task, ready)
        try:
            yield
        finally:
            stop.set()
            await asyncio.wait_for(task, 20)
        # A service refused something it needs is a gap in access.py: the server says so.
        lines = log.read_text().splitlines()[seen:]
        denied = [
            line
            for line in lines
            if "Violation" in line
            and "user:idsync-" in line
            and not any(f'"{subject}"' in line for subject in refused)
        ]
        assert denied == [], "\n".join(denied)

    return running


@asynccontextmanager
async def person(settings: Settings, principal: str) -> AsyncIterator[Session]:
    async with connect(as_(settings, principal)) as session:
        yield session


async def raw_client(settings: Settings, who: str) -> tuple[Client, list[str]]:
    """A plain nats-py client as a service ("runner") or a person, and the errors the
    server reports to it."""
    service = credentials.for_service(settings, who)
    found = service or credentials.for_person(as_(settings, who))
    assert found is not None
    # A person may read replies only in an inbox of their own.
    inbox = {} if service is not None else {"inbox_prefix": access.inbox_prefix(who)}
    errors: list[str] = []

    async def on_error(error: Exception) -> None:
        errors.append(str(error))

    nc = await nats.connect(
        settings.nats_url or "",
        user=found.user,
        password=found.password,
        error_cb=on_error,
        **inbox,
    )
    return nc, errors


async def apply_as(session: Session, files: Files) -> None:
    """Apply the files as a person does: commands the workflow carries out."""
    await session.apply_connections(load_connections(files.connections))
    await session.apply_job(load_job(files.job))
