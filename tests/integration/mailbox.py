"""A real SMTP server for the notifier's tests (aiosmtpd), on a free loopback port.

It keeps every message it accepts, as received, so a test can count them and read
them back the way a mail program would.
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import time
from email import message_from_bytes, policy
from email.message import EmailMessage
from typing import Any

import msgspec
import pytest

from services.common.settings import Settings
from tests import ports
from tests.ports import NotStarted, start_on_free_ports

aiosmtpd_controller = pytest.importorskip(
    "aiosmtpd.controller", reason="pip install aiosmtpd (the dev extras) for the mail tests"
)


def with_mail(settings: Settings, box: Mailbox, **more: Any) -> Settings:
    """`settings` with mail going to `box` (plain SMTP on loopback)."""
    return msgspec.structs.replace(
        settings,
        smtp_host="127.0.0.1",
        smtp_port=box.port,
        smtp_security="none",
        mail_from="idsync <idsync@example.org>",
        **more,
    )


class Received(msgspec.Struct, kw_only=True):
    sender: str
    to: list[str]
    raw: bytes

    @property
    def message(self) -> EmailMessage:
        parsed = message_from_bytes(self.raw, policy=policy.default)
        assert isinstance(parsed, EmailMessage)
        return parsed


def free_port() -> int:
    return ports.free_port()


class Mailbox:
    """An SMTP server that can be started and stopped again on the same port.

    Given no port, it picks one, and its first `start` moves to another if that one was
    taken meanwhile: read `port` after it. Given a port (one already handed out), it
    serves there or fails."""

    def __init__(self, port: int | None = None) -> None:
        self.pinned = port is not None
        self.port = port or ports.free_port()
        self.received: list[Received] = []
        self._controller: Any = None

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        self.received.append(
            Received(
                sender=envelope.mail_from,
                to=list(envelope.rcpt_tos),
                raw=bytes(envelope.original_content),
            )
        )
        return "250 Message accepted"

    def start(self) -> None:
        if self.pinned:
            self._listen()
            return
        attempts = iter(range(ports.ATTEMPTS))

        def once() -> None:
            if next(attempts):  # not the first: the port picked before is taken
                self.port = ports.free_port()
            try:
                self._listen()
            except OSError as error:
                if error.errno != errno.EADDRINUSE:
                    raise
                raise NotStarted(f"port {self.port}: {error}", "") from error

        start_on_free_ports(once)
        self.pinned = True  # a test may stop it and start it again: on the same port

    def _listen(self) -> None:
        controller = aiosmtpd_controller.Controller(self, hostname="127.0.0.1", port=self.port)
        try:
            controller.start()
        except BaseException:
            controller.stop(no_assert=True)  # its thread ended: nothing listens
            with contextlib.suppress(RuntimeError):
                controller.loop.close()
            raise
        self._controller = controller

    def stop(self) -> None:
        if self._controller is not None:
            self._controller.stop()
            self._controller = None

    def to(self, address: str) -> list[Received]:
        return [mail for mail in self.received if address in mail.to]

    async def wait_for(self, count: int, timeout: float = 20.0) -> list[Received]:
        """The messages received, once there are at least `count`."""
        deadline = time.monotonic() + timeout
        while len(self.received) < count:
            if time.monotonic() > deadline:
                raise AssertionError(f"{len(self.received)} mails received, expected {count}")
            await asyncio.sleep(0.05)
        return list(self.received)


class RefusingServer:
    """A port where a mail server should be, that accepts connections and hangs up at
    once — the way a server that is going down looks — counting the attempts."""

    def __init__(self, port: int) -> None:
        self.port = port
        self.attempts = 0
        self._server: asyncio.Server | None = None

    async def start(self) -> None:
        async def hang_up(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            self.attempts += 1
            writer.close()

        self._server = await asyncio.start_server(hang_up, "127.0.0.1", self.port)

    async def stop(self) -> None:
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()
