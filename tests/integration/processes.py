"""Services in processes of their own, which a test can kill like a crash would."""

from __future__ import annotations

import signal
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager

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
