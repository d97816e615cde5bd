"""Ports for the tests' throwaway servers, and starting a server again elsewhere when
the port it was given is taken before it binds.

A port is picked free (bind to port 0, read the number, close) and only then handed to
the server: in between, any other program — one of the suite's own outgoing
connections, which take their ports from the same range — may take it, and the server
cannot bind. `start_on_free_ports` gives such a start a few attempts, each on newly
picked ports; the start itself says when it did not come up (`NotStarted`) after
stopping, by its pid, whatever it launched.
"""

from __future__ import annotations

import socket
from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

T = TypeVar("T")
ATTEMPTS = 3


def free_port() -> int:
    """A loopback port free now (not reserved: another program may take it)."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def log_tail(path: Path, chars: int = 3000) -> str:
    """The end of a server's log (empty when it wrote none)."""
    try:
        return path.read_text(errors="replace")[-chars:]
    except OSError:
        return ""


def address_in_use(text: str) -> bool:
    """Whether a server's log says it could not bind its port."""
    lowered = text.lower()
    return "address already in use" in lowered or "address in use" in lowered


class NotStarted(Exception):
    """A server did not come up on the ports it was given: it exited early, its log says
    its address is in use, or it never answered. Whatever was launched is stopped."""

    def __init__(self, what: str, log: str) -> None:
        super().__init__(what)
        self.what = what
        self.log = log


def start_on_free_ports(start: Callable[[], T], attempts: int = ATTEMPTS) -> T:
    """`start()` (which picks its ports afresh each time) until it raises no
    `NotStarted`, at most `attempts` times; then an error with the last log's tail."""
    failures: list[NotStarted] = []
    for _ in range(attempts):
        try:
            return start()
        except NotStarted as failure:
            failures.append(failure)
    reasons = "; ".join(failure.what for failure in failures)
    raise RuntimeError(
        f"did not start in {attempts} attempts ({reasons}); the last log ends:\n{failures[-1].log}"
    )
