"""The event loop a command runs in: asyncio, and the logging its libraries use, loaded
only once a command needs them (`idsync --help` and `idsync job run`'s quick path do
not)."""

from __future__ import annotations

from collections.abc import Callable, Coroutine
from typing import Any, TypeVar

T = TypeVar("T")


def run_in_loop(noun: str, command: Callable[[], Coroutine[Any, Any, T]]) -> T:
    import asyncio

    from services.common.logging import configure_logging

    if noun in {"up", "serve"}:
        configure_logging(runs=True)
    else:
        configure_logging(level=30)  # commands print their results; logs only for warnings
    return asyncio.run(command())
