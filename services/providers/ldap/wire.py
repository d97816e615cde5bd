"""LDAP messages (ber.py) over one bound connection's socket: sent one at a time or
pipelined, received as they arrive; a broken connection is `Disconnected`."""

from __future__ import annotations

import socket
from collections.abc import Iterator
from typing import NamedTuple

from .ber import element_at, message, result
from .stats import Counters


class Disconnected(Exception):
    """The connection broke; what was sent and not answered may or may not be applied."""


class Message(NamedTuple):
    id: int
    op: int
    body: bytes
    controls: bytes


class Wire:
    """LDAP messages over one bound connection's socket (blocking: call from a thread)."""

    def __init__(self, sock: socket.socket, timeout: float) -> None:
        self.sock = sock
        sock.settimeout(timeout)
        self._buffer = bytearray()
        self._pos = 0  # where the next message starts in the buffer
        self._next = 0x100000  # above the ids the client library used to bind

    def send(self, op: bytes, controls: bytes = b"") -> int:
        self._next += 1
        data = message(self._next, op, controls)
        Counters.count(op, len(data))
        try:
            self.sock.sendall(data)
        except OSError as e:
            raise Disconnected(f"sending failed: {e}") from e
        return self._next

    def send_many(self, ops: list[bytes], controls: list[bytes] | None = None) -> list[int]:
        """Several requests in one write (pipelined), each with its `controls` if given;
        their message ids in order."""
        first = self._next + 1
        self._next += len(ops)
        extra = controls or [b""] * len(ops)
        messages = [message(first + k, op, extra[k]) for k, op in enumerate(ops)]
        for op, one in zip(ops, messages, strict=True):
            Counters.count(op, len(one))
        data = b"".join(messages)
        try:
            self.sock.sendall(data)
        except OSError as e:
            raise Disconnected(f"sending failed: {e}") from e
        return list(range(first, first + len(ops)))

    def receive(self) -> Iterator[Message]:
        """Messages as they arrive, until the caller stops asking (the next call goes on
        where this one stopped)."""
        buffer = self._buffer
        while True:
            while (found := self._take()) is not None:
                if found.id == 0:  # an unsolicited notice: the server is dropping us
                    raise Disconnected(f"the server ended the session: {result(found.body)[2]}")
                yield found
            del buffer[: self._pos]  # once per read from the socket, not per message
            self._pos = 0
            try:
                chunk = self.sock.recv(1 << 18)
            except TimeoutError as e:
                raise Disconnected("the server did not answer in time") from e
            except OSError as e:
                raise Disconnected(f"receiving failed: {e}") from e
            if not chunk:
                raise Disconnected("the server closed the connection")
            buffer += chunk

    def _take(self) -> Message | None:
        """The next whole message in the buffer, or None."""
        buffer, start = self._buffer, self._pos
        size = len(buffer)
        if size - start < 2:
            return None
        n, head = buffer[start + 1], 2
        if n & 0x80:
            k = n & 0x7F
            if size - start < 2 + k:
                return None
            n, head = int.from_bytes(buffer[start + 2 : start + 2 + k], "big"), 2 + k
        end = start + head + n
        if end > size:
            return None
        data = bytes(buffer[start + head : end])
        self._pos = end
        _, n, i = element_at(data, 0)
        mid = int.from_bytes(data[i : i + n], "big")
        op, n, i = element_at(data, i + n)
        return Message(mid, op, data[i : i + n], data[i + n :])
