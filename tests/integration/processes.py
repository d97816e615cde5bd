"""Services in processes of their own, which a test can kill like a crash would."""

from __future__ import annotations

import signal
import subprocess
import time
from collections.abc import Awaitable, Callable, Iterator
from contextlib import contextmanager
from typing import TypeVar

from core.errors import Unreachable
from services.common.settings import Settings

from .conftest import IDSYNC, env_for


@contextmanager
def runner_process(
    settings: Settings, name: str = "runner", **env: str
) -> Iterator[subprocess.Popen[bytes]]:
    """`idsync serve runner` as IDSYNC_RUNNER_ID=`name`, its log in IDSYNC_HOME/logs;
    stopped by pid (SIGTERM) unless the test killed it first."""
    logs = settings.home / "logs"
    logs.mkdir(parents=True, exist_ok=True)
    with (logs / f"{name}.log").open("ab") as log:
        process = subprocess.Popen(
            [*IDSYNC, "serve", "runner"],
            env=env_for(settings, IDSYNC_RUNNER_ID=name, **env),
            stdout=log,
            stderr=log,
        )
        try:
            yield process
        finally:
            if process.poll() is None:
                process.send_signal(signal.SIGTERM)
                process.wait(timeout=20)


@contextmanager
def service_process(
    settings: Settings, service: str, **env: str
) -> Iterator[subprocess.Popen[bytes]]:
    """`idsync serve SERVICE`, its log in IDSYNC_HOME/logs; stopped by pid (SIGTERM)
    unless the test killed it first."""
    logs = settings.home / "logs"
    logs.mkdir(parents=True, exist_ok=True)
    with (logs / f"{service}.log").open("ab") as log:
        process = subprocess.Popen(
            [*IDSYNC, "serve", service], env=env_for(settings, **env), stdout=log, stderr=log
        )
        try:
            yield process
        finally:
            if process.poll() is None:
                process.send_signal(signal.SIGTERM)
                process.wait(timeout=20)


T = TypeVar("T")


async def once_started(ask: Callable[[], Awaitable[T]], seconds: float = 30) -> T:
    """A command to a service process just started: on a loaded machine it may take
    longer to answer than a command waits for someone to (nobody got it: asked again)."""
    deadline = time.monotonic() + seconds
    while True:
        try:
            return await ask()
        except Unreachable:
            if time.monotonic() >= deadline:
                raise
