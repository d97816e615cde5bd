"""A port a test holds and hands out as the next one picked: a server given it cannot
bind, and must start again on another (tests/ports.py)."""

from __future__ import annotations

import socket
from collections.abc import Iterator

import pytest

from tests import ports


class Taken:
    """A loopback port this test listens on; the next `ports.free_port()` returns it."""

    def __init__(self, holder: socket.socket) -> None:
        self.holder = holder
        self.port: int = holder.getsockname()[1]
        self.picks: list[int] = []
        """Every port picked while the test runs, in order."""


@pytest.fixture
def taken(monkeypatch: pytest.MonkeyPatch) -> Iterator[Taken]:
    pick = ports.free_port
    with socket.create_server(("127.0.0.1", 0)) as holder:
        held = Taken(holder)

        def picked() -> int:
            port = pick() if held.picks else held.port
            held.picks.append(port)
            return port

        monkeypatch.setattr(ports, "free_port", picked)
        yield held
