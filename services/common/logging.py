"""structlog, configured once: a console on a TTY, JSON lines otherwise."""

from __future__ import annotations

import logging
import sys
from typing import TextIO

import structlog


def configure_logging(
    level: int = logging.INFO,
    stream: TextIO | None = None,
    *,
    json: bool | None = None,
    runs: bool = False,
) -> None:
    """Configure structlog for the whole process. `job_id` and `run_id` bound with
    structlog.contextvars appear on every line logged while they are bound. `runs`
    (the services): such lines also go to the run's history (run_logs.py)."""
    stream = stream or sys.stderr
    if json is None:
        json = not stream.isatty()
    renderer: structlog.typing.Processor = (
        structlog.processors.JSONRenderer() if json else structlog.dev.ConsoleRenderer()
    )
    processors: list[structlog.typing.Processor] = [
        structlog.contextvars.merge_contextvars,
        structlog.processors.add_log_level,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
        structlog.processors.format_exc_info,
    ]
    if runs:
        from .run_logs import RUN_LOGS

        processors.append(RUN_LOGS)
    structlog.configure(
        processors=[*processors, renderer],
        wrapper_class=structlog.make_filtering_bound_logger(level),
        logger_factory=structlog.PrintLoggerFactory(file=stream),
        cache_logger_on_first_use=False,
    )


def get_logger(name: str) -> structlog.typing.FilteringBoundLogger:
    logger: structlog.typing.FilteringBoundLogger = structlog.get_logger(name)
    return logger
