"""What a service knows of its NATS connection and of JetStream, said once per change.

A cluster loses a server: the connection moves to another (`lost`, then `back`). It
loses two of three: the connection stays up, but JetStream has no quorum and answers
nothing — every queue stops until the servers return. Each change is logged once, as a
warning while it lasts and a line when it ends, never once per failed attempt; `problem`
says in words what is wrong now (None: nothing), for whoever reports the service's
health."""

from __future__ import annotations

import time

from .logging import get_logger

log = get_logger("idsync.nats")

NO_QUORUM = (
    "JetStream does not answer: the NATS cluster has lost its quorum (more than half its "
    "servers are down or cut off) or its streams are electing a leader; every queue waits "
    "until it answers again, nothing is lost"
)


class NatsHealth:
    def __init__(self) -> None:
        self.connected_to: str | None = None
        """The server this service is connected to (None: none now)."""
        self.lost_since: float | None = None
        self.jetstream_down_since: float | None = None
        self.jetstream_error = ""

    @property
    def problem(self) -> str | None:
        if self.lost_since is not None:
            return "no NATS server reachable; reconnecting to the cluster's servers in turn"
        if self.jetstream_down_since is not None:
            return f"{NO_QUORUM} ({self.jetstream_error})"
        return None

    def connected(self, url: str | None) -> None:
        """Connected, or reconnected, to `url`."""
        self.connected_to = url
        if self.lost_since is not None:
            log.info(
                "reconnected to NATS",
                server=url,
                away=round(time.monotonic() - self.lost_since, 1),
            )
        self.lost_since = None

    def disconnected(self) -> None:
        if self.lost_since is None:
            log.warning(
                "lost the NATS server; reconnecting to the cluster's servers in turn",
                server=self.connected_to,
            )
            self.lost_since = time.monotonic()
        self.connected_to = None

    def jetstream_failed(self, error: BaseException) -> None:
        self.jetstream_error = str(error) or type(error).__name__
        if self.jetstream_down_since is None and self.lost_since is None:
            log.warning(NO_QUORUM, error=self.jetstream_error, server=self.connected_to)
            self.jetstream_down_since = time.monotonic()

    def jetstream_answered(self) -> None:
        if self.jetstream_down_since is not None:
            log.info(
                "JetStream answers again; the queues resume",
                away=round(time.monotonic() - self.jetstream_down_since, 1),
            )
        self.jetstream_down_since = None
