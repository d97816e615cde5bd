"""Starting a server again on another port when the one picked for it was taken before
it could bind (tests/ports.py)."""

from __future__ import annotations

import socket

import pytest

from tests import ports
from tests.ports import NotStarted, start_on_free_ports
from tests.ports_taken import Taken


def listen() -> socket.socket:
    """A server as small as can be: it binds the port picked for it, or fails."""
    port = ports.free_port()
    try:
        return socket.create_server(("127.0.0.1", port))
    except OSError as error:
        raise NotStarted(f"port {port}: {error}", f"bind: {error.strerror}") from error


def test_a_server_whose_port_was_taken_starts_on_another(taken: Taken) -> None:
    with start_on_free_ports(listen) as server:
        port = server.getsockname()[1]
        assert taken.picks[0] == taken.port  # it was given the taken port first
        assert port != taken.port and port == taken.picks[-1]
        with socket.create_connection(("127.0.0.1", port), timeout=5):
            pass  # and it serves there


def test_after_a_few_attempts_it_fails_saying_what_the_server_said(
    monkeypatch: pytest.MonkeyPatch, taken: Taken
) -> None:
    monkeypatch.setattr(ports, "free_port", lambda: taken.port)  # every pick is taken
    with pytest.raises(RuntimeError, match="did not start in 3 attempts") as failed:
        start_on_free_ports(listen)
    assert "bind: Address already in use" in str(failed.value)


def test_a_failure_that_is_not_about_its_port_is_not_tried_again() -> None:
    calls: list[int] = []

    def broken() -> None:
        calls.append(1)
        raise FileNotFoundError("no such binary")

    with pytest.raises(FileNotFoundError):
        start_on_free_ports(broken)
    assert calls == [1]
