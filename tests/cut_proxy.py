"""A TCP proxy a test controls, to break a connection at the moment it chooses.

It relays bytes both ways (TLS passes through untouched) between clients and one
server. Armed with `cut_when(condition)`, it checks the condition each time the server
sends something; the first time it holds, that data is dropped and the connection is
closed on both sides, as a network failure would: the server has done the work, the
client never hears of it. Then it relays as before (`cuts` counts the cuts). `sever`
breaks every connection and refuses new ones until `mend`: a link down for a while.
"""

from __future__ import annotations

import contextlib
import socket
import threading
from collections.abc import Callable
from types import TracebackType


class CutProxy:
    def __init__(self, port: int, host: str = "127.0.0.1") -> None:
        self.target = (host, port)
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.port: int = self.listener.getsockname()[1]
        self.cuts = 0
        self._condition: Callable[[], bool] | None = None
        self._lock = threading.Lock()
        self._open: list[socket.socket] = []
        self._severed = False
        threading.Thread(target=self._accept, daemon=True).start()

    def cut_when(self, condition: Callable[[], bool]) -> None:
        """Cut the connection whose server sends something once `condition()` is true."""
        with self._lock:
            self._condition = condition

    def _accept(self) -> None:
        while True:
            try:
                client, _ = self.listener.accept()
            except OSError:
                return  # closed
            if self._severed:  # the cable is out: nobody gets through
                _shut(client)
                continue
            server = socket.create_connection(self.target)
            self._open += [client, server]
            for source, to, answers in ((client, server, False), (server, client, True)):
                pump = threading.Thread(target=self._pump, args=(source, to, answers))
                pump.daemon = True
                pump.start()

    def _pump(self, source: socket.socket, to: socket.socket, answers: bool) -> None:
        while True:
            try:
                data = source.recv(1 << 16)
            except OSError:
                break
            if not data or (answers and self._cut_now()):
                break
            try:
                to.sendall(data)
            except OSError:
                break
        for end in (source, to):
            _shut(end)

    def _cut_now(self) -> bool:
        with self._lock:
            if self._condition is None or not self._condition():
                return False
            self._condition = None
            self.cuts += 1
            return True

    def sever(self) -> None:
        """Break every connection and refuse new ones until `mend`: a link that is down."""
        with self._lock:
            self._severed = True
            self.cuts += 1
        for end in self._open:
            _shut(end)
        self._open = []

    def mend(self) -> None:
        with self._lock:
            self._severed = False

    def close(self) -> None:
        _shut(self.listener)
        for end in self._open:
            _shut(end)

    def __enter__(self) -> CutProxy:
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()


def _shut(end: socket.socket) -> None:
    with contextlib.suppress(OSError):  # already closed by the other direction
        end.shutdown(socket.SHUT_RDWR)
    end.close()
