"""A small synchronous NATS client: core protocol only, for a command that starts,
asks, waits and exits within a fraction of a second (`idsync job run`).

nats-py and asyncio take longer to import (~0.13 s) than such a command takes to do
its work. This client speaks the core protocol over a plain socket — INFO, CONNECT,
SUB, PUB, MSG, HMSG, PING, PONG, -ERR — and nothing else: no TLS, no reconnection, no
JetStream. `QuickNats.open` returns None for a connection it cannot make as nats-py
would (a tls:// URL, a server that requires TLS, a URL carrying credentials, a server
that asks for credentials none were given for): the caller then uses nats-py.
"""

from __future__ import annotations

import os
import socket
import time
from typing import NamedTuple
from urllib.parse import urlsplit

import msgspec

DEFAULT_PORT = 4222
NO_RESPONDERS = b"NATS/1.0 503"
"""The status line of the reply the server sends a request nobody is subscribed to."""
_CRLF = b"\r\n"


class Lost(ConnectionError):
    """The server closed the connection, or the socket failed."""


class Message(NamedTuple):
    sid: int
    subject: str
    reply: str
    headers: bytes
    """The raw header block (HMSG), empty for MSG."""
    data: bytes


class Info(msgspec.Struct, kw_only=True):
    tls_required: bool = False
    auth_required: bool = False
    headers: bool = False
    max_payload: int = 1 << 20


_info = msgspec.json.Decoder(Info)


class Connect(msgspec.Struct, kw_only=True, omit_defaults=True):
    verbose: bool = False
    pedantic: bool = False
    lang: str = "python3"
    version: str = "idsync-quick"
    protocol: int = 1
    headers: bool = False
    no_responders: bool = False
    user: str | None = None
    # NATS names the field "pass"; renamed on encoding.
    password: str | None = msgspec.field(default=None, name="pass")


_encode = msgspec.json.Encoder().encode


def address(url: str) -> tuple[str, int] | None:
    """The host and port of a plain nats:// URL (or host[:port], as nats-py takes it);
    None for any other: TLS, websockets, credentials in the URL."""
    if "://" not in url:
        url = f"nats://{url}"
    try:
        parts = urlsplit(url)
        port = parts.port or DEFAULT_PORT
    except ValueError:
        return None
    if parts.scheme != "nats" or parts.username or parts.password or not parts.hostname:
        return None
    return parts.hostname, port


class QuickNats:
    """One connection. Messages come from `next`, which answers the server's pings and
    keeps the permission errors it reports in `refusals` (as nats-py's error callback
    hears them: the text after "nats: ")."""

    def __init__(self, sock: socket.socket) -> None:
        self.sock = sock
        self.buffer = bytearray()
        self.refusals: list[str] = []
        self.pending: list[Message] = []
        """Messages that came while `ping` waited, for `next` to return first."""
        self.pongs = 0
        self.sids = 0
        self.inbox = ""

    @classmethod
    def open(
        cls,
        url: str,
        *,
        user: str | None = None,
        password: str | None = None,
        inbox_prefix: str = "_INBOX",
        timeout: float = 3.0,
    ) -> QuickNats | None:
        """Connected, or None when this client cannot connect as nats-py would (see the
        module) or the server cannot be reached: nats-py then tries, and says why."""
        where = address(url)
        if where is None:
            return None
        try:
            sock = socket.create_connection(where, timeout)
        except OSError:
            return None
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)  # as asyncio's transports
        client = cls(sock)
        try:
            deadline = time.monotonic() + timeout
            line = client._line(deadline)
            if not line.startswith(b"INFO "):
                raise Lost("no INFO from the server")
            info = _info.decode(line[5:])
            if info.tls_required or (info.auth_required and user is None):
                client.close()
                return None
            hello = Connect(headers=info.headers, no_responders=info.headers)
            if info.auth_required:
                hello.user, hello.password = user, password or ""
            client.inbox = f"{inbox_prefix}.{os.urandom(11).hex()}"
            client.send(b"CONNECT " + _encode(hello) + _CRLF)
            client.ping(deadline)
        except (OSError, msgspec.DecodeError, msgspec.ValidationError):
            client.close()
            return None
        return client

    def close(self) -> None:
        self.sock.close()

    def __enter__(self) -> QuickNats:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def send(self, data: bytes) -> None:
        try:
            self.sock.sendall(data)
        except OSError as error:
            raise Lost(str(error)) from None

    def subscribe(self, subject: str) -> int:
        """A core subscription; its sid. Sent at once, confirmed by the next `ping`."""
        self.sids += 1
        self.send(f"SUB {subject} {self.sids}{_CRLF.decode()}".encode())
        return self.sids

    def publish(self, subject: str, payload: bytes, reply: str = "") -> None:
        head = f"PUB {subject} {reply} {len(payload)}" if reply else f"PUB {subject} {len(payload)}"
        self.send(head.encode() + _CRLF + payload + _CRLF)

    def ping(self, deadline: float) -> None:
        """A round trip: once it returns, the server has handled everything sent before
        (a refused subscription is in `refusals`). Messages that come meanwhile wait in
        `pending`."""
        self.send(b"PING\r\n")
        expected = self.pongs + 1
        while self.pongs < expected:
            try:
                line = self._line(deadline)
            except TimeoutError:
                raise Lost("no PONG from the server in time") from None
            if (message := self._handle(line)) is not None:
                self.pending.append(message)

    def next(self, timeout: float) -> Message | None:
        """The next message, or None once `timeout` seconds pass without one (or a
        protocol line other than a message came: call again)."""
        if self.pending:
            return self.pending.pop(0)
        deadline = time.monotonic() + max(timeout, 0.0)
        try:
            line = self._line(deadline)
        except TimeoutError:
            return None
        return self._handle(line)

    def _handle(self, line: bytes) -> Message | None:
        if line.startswith(b"MSG ") or line.startswith(b"HMSG "):
            return self._message(line)
        if line == b"PING":
            self.send(b"PONG\r\n")
        elif line == b"PONG":
            self.pongs += 1
        elif line.startswith(b"-ERR"):
            text = line[4:].strip().strip(b"'").decode(errors="replace")
            if "permissions violation" in text.lower():
                self.refusals.append(text)
            else:  # the server closes the connection after any other error
                raise Lost(text)
        return None  # +OK, INFO (a cluster's news): nothing for the caller

    def _message(self, line: bytes) -> Message:
        parts = line.decode().split(" ")
        # MSG subject sid [reply] size | HMSG subject sid [reply] header-size size
        fields = 5 if parts[0] == "MSG" else 6
        reply = parts[3] if len(parts) == fields else ""
        size = int(parts[-1])
        header_size = int(parts[-2]) if parts[0] == "HMSG" else 0
        try:  # the payload follows at once
            body = self._exact(size + 2, time.monotonic() + 30.0)
        except TimeoutError:
            raise Lost("a message's payload did not come") from None
        return Message(
            sid=int(parts[2]),
            subject=parts[1],
            reply=reply,
            headers=bytes(body[:header_size]),
            data=bytes(body[header_size:size]),
        )

    def _fill(self, deadline: float) -> None:
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            raise TimeoutError
        self.sock.settimeout(remaining)
        try:
            chunk = self.sock.recv(65536)
        except TimeoutError:
            raise
        except OSError as error:
            raise Lost(str(error)) from None
        if not chunk:
            raise Lost("the server closed the connection")
        self.buffer += chunk

    def _line(self, deadline: float) -> bytes:
        while (end := self.buffer.find(_CRLF)) < 0:
            self._fill(deadline)
        line = bytes(self.buffer[:end])
        del self.buffer[: end + 2]
        return line

    def _exact(self, size: int, deadline: float) -> bytes:
        while len(self.buffer) < size:
            self._fill(deadline)
        data = bytes(self.buffer[:size])
        del self.buffer[:size]
        return data
