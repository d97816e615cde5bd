"""The services' log lines, as an operator's log collector sees them, for one test: the
logging configured to write into a buffer, and put back as it was afterwards (a test
that left the level at WARNING hid the next tests' own captured lines)."""

from __future__ import annotations

import io
import logging
from collections.abc import Iterator
from contextlib import contextmanager

import structlog

from services.common.logging import configure_logging


@contextmanager
def logged(level: int = logging.INFO, *, runs: bool = False) -> Iterator[io.StringIO]:
    """The JSON lines logged at `level` and above while inside."""
    buffer = io.StringIO()
    before = structlog.get_config()
    configure_logging(level, buffer, json=True, runs=runs)
    try:
        yield buffer
    finally:
        structlog.configure(**before)
