"""The portal in tests: the services and the portal on the secured server (each service as
its own user, so the portal's permissions are the deployment's), and people signed in to
it over HTTP."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import httpx

from services.common import credentials
from services.common.service_names import SERVICES
from services.common.settings import Settings
from services.portal.app import URL_FILE

from .secured import Running, as_

PORTAL = (*SERVICES, "portal")


def password_of(settings: Settings, principal: str) -> str:
    """The password `idsync user add` gave a person (their local account's)."""
    found = credentials.for_person(as_(settings, principal))
    assert found is not None
    return found.password


def portal_url(settings: Settings) -> str:
    return (settings.home / URL_FILE).read_text().strip()


class Signed:
    """A person's HTTP client, signed in: its cookie, and the CSRF token it sends."""

    def __init__(self, client: httpx.AsyncClient, csrf: str) -> None:
        self.client = client
        self.csrf = csrf

    async def get(self, path: str, **kw: object) -> httpx.Response:
        return await self.client.get(path, **kw)  # type: ignore[arg-type]

    async def send(self, method: str, path: str, **kw: object) -> httpx.Response:
        headers = {"x-csrf-token": self.csrf}
        return await self.client.request(method, path, headers=headers, **kw)  # type: ignore[arg-type]


@asynccontextmanager
async def signed_in(settings: Settings, principal: str) -> AsyncIterator[Signed]:
    async with httpx.AsyncClient(base_url=portal_url(settings), timeout=60) as client:
        answer = await client.post(
            "/api/signin", json={"user": principal, "password": password_of(settings, principal)}
        )
        assert answer.status_code == 200, answer.text
        yield Signed(client, answer.json()["csrf"])


@asynccontextmanager
async def portal_running(services: Running) -> AsyncIterator[None]:
    async with services(*PORTAL):
        yield
