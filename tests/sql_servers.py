"""What the throwaway PostgreSQL and MariaDB servers (tests/postgresql_server.py,
tests/mysql_server.py) share: a server given by a URL instead, the session fixture's
start, skip and clean-up, and the names of the per-test databases."""

from __future__ import annotations

import itertools
import os
import shutil
import tempfile
import urllib.parse
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Protocol, TypeVar

import pytest

S = TypeVar("S")
S_co = TypeVar("S_co", covariant=True)


class Throwaway(Protocol[S_co]):
    """A server process of the test's own, its files in a folder."""

    def start(self) -> S_co: ...

    def stop(self) -> None: ...


def given(url: str, server: Callable[[str, int, str, str, str], S], port: int, db: str) -> S:
    """The login a URL (scheme://user:password@host:port/database) names; `port` and `db`
    where it names none."""
    parts = urllib.parse.urlsplit(url)
    return server(
        parts.hostname or "127.0.0.1",
        parts.port or port,
        urllib.parse.unquote(parts.username or ""),
        urllib.parse.unquote(parts.password or ""),
        parts.path.lstrip("/") or db,
    )


def session_server(
    name: str,
    url_variable: str,
    from_url: Callable[[str], S],
    installed: Callable[[], bool],
    needs: str,
    throwaway: Callable[[Path], Throwaway[S]],
) -> Iterator[S]:
    """The server the environment variable names, or one started in a temporary folder
    for the session (stopped and removed after it); the test is skipped, saying `needs`,
    when the server is not installed."""
    if url := os.environ.get(url_variable):
        yield from_url(url)
        return
    if not installed():
        pytest.skip(needs)
    folder = Path(tempfile.mkdtemp(prefix=f"idsync-{name}-"))
    server = throwaway(folder)
    try:
        yield server.start()
    finally:
        server.stop()
        shutil.rmtree(folder, ignore_errors=True)


_databases = itertools.count(1)


def database_name() -> str:
    """A name no other test of any process uses."""
    return f"idsync_test_{os.getpid()}_{next(_databases)}"
