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
        self._buffer = b""
        self._pos = 0  # where the next message starts in the buffer
        self._needed = 0  # the octets of the message the buffer holds the start of
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
        while True:
            while (found := self._take()) is not None:
                if found.id == 0:  # an unsolicited notice: the server is dropping us
                    raise Disconnected(f"the server ended the session: {result(found.body)[2]}")
                yield found
            # What is left of the buffer (the start of a message) and what comes next,
            # joined once that message is whole: a large entry is not copied per read.
            parts = [self._buffer[self._pos :]]
            have = len(parts[0])
            while True:
                try:
                    chunk = self.sock.recv(1 << 18)
                except TimeoutError as e:
                    raise Disconnected("the server did not answer in time") from e
                except OSError as e:
                    raise Disconnected(f"receiving failed: {e}") from e
                if not chunk:
                    raise Disconnected("the server closed the connection")
                parts.append(chunk)
                have += len(chunk)
                if have >= self._needed:
                    break
            self._buffer, self._pos = b"".join(parts), 0

    def _take(self) -> Message | None:
        """The next whole message in the buffer, or None (then `_needed` says how many
        octets it takes, when its length has arrived). Read in place: its body is the one
        copy made of a message (a search's entries are most of what a read receives)."""
        buffer, start = self._buffer, self._pos
        size = len(buffer)
        self._needed = 0
        if size - start < 2:
            return None
        n, i = buffer[start + 1], start + 2
        if n & 0x80:
            k = n & 0x7F
            if size - start < 2 + k:
                return None
            n, i = int.from_bytes(buffer[i : i + k], "big"), i + k
        end = i + n
        if end > size:
            self._needed = end - start
            return None
        self._pos = end
        _, n, i = element_at(buffer, i)  # the message id
        mid = int.from_bytes(buffer[i : i + n], "big")
        op, n, i = element_at(buffer, i + n)
        return Message(mid, op, buffer[i : i + n], buffer[i + n : end])
