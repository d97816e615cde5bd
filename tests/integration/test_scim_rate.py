"""A SCIM connection's `requests_per_second` against a real SCIM server (scim2-server):
the requests the service sees keep under the ceiling, counted where they arrive (a relay
in front of the server), and every user is written."""

from __future__ import annotations

import time
from pathlib import Path

from schemas.connections import ScimConnection, SecretRef
from schemas.jobs import Endpoint
from schemas.plan import Change
from services.providers import open_provider
from services.providers.base import Layout
from services.providers.pacing import SLACK
from tests.scim_server import TOKEN, ThrottlingProxy, resources

RATE = 20.0
USERS = 80


def most_in(arrivals: list[float], window: float) -> int:
    return max(sum(1 for t in arrivals if start <= t < start + window) for start in arrivals)


async def test_the_service_never_sees_more_than_the_ceiling(scim_url: str, tmp_path: Path) -> None:
    arrivals: list[float] = []

    def arrived() -> None:
        arrivals.append(time.monotonic())

    proxy = ThrottlingProxy(int(scim_url.split(":")[2].split("/")[0]), lambda: arrived())
    (tmp_path / "token").write_text(TOKEN + "\n")
    connection = ScimConnection(
        id="paced",
        url=proxy.url(scim_url),
        token=SecretRef(file=str(tmp_path / "token")),
        bulk=False,  # one request a user: many requests at once without the ceiling
        concurrency=8,
        requests_per_second=RATE,
    )
    layout = Layout(keys=("userName",), fields=("userName", "displayName"))
    provider = open_provider(connection, Endpoint(connection="paced"), layout)
    await provider.open(write=True)
    try:
        changes = [
            Change(
                action="create",
                key=f"u{n:03}",
                match={"userName": f"u{n:03}"},
                set={"userName": f"u{n:03}", "displayName": f"User {n}"},
            )
            for n in range(USERS)
        ]
        outcomes = await provider.apply(changes)
    finally:
        await provider.close()
        proxy.close()
    assert [o.error for o in outcomes] == [None] * USERS
    assert len(resources(scim_url)) == USERS
    assert len(arrivals) >= USERS
    # A second's worth at once, then RATE a second: in any window of w seconds at most
    # RATE * (w + SLACK) requests, give or take the 8 in flight that the network may
    # bunch together.
    for window in (1.0, 2.0, 3.0):
        assert most_in(arrivals, window) <= RATE * (window + SLACK) + 8, window
    assert arrivals[-1] - arrivals[0] >= (len(arrivals) - RATE * SLACK - 8) / RATE
