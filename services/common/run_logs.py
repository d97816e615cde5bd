"""A run's log lines, sent to the history whatever machine logged them.

`RUN_LOGS` is a structlog processor (configure_logging installs it for the services):
a line logged while a run is bound (`run_id`, `job_id` in structlog's context
variables, as delivery.py binds them) is also kept, rendered and without secrets, in
a small buffer of this process. `ship` publishes the buffer in batches on
`idsync.log.<job>.<run>` (the IDSYNC_LOGS stream), where the recorder reads them.

Logging never waits for NATS: the processor only appends to the buffer, which holds
at most CAPACITY lines and drops the oldest when full, counting the lines each run
lost (the run's next batch says how many). A batch the server refuses is dropped and
counted the same way.
"""

from __future__ import annotations

import asyncio
import contextlib
import re
import secrets
import threading
from collections import deque
from collections.abc import MutableMapping
from contextvars import ContextVar
from typing import Any

import msgspec
import nats.errors

from schemas.logs import LogBatch, LogLine, encode
from schemas.subjects import log_subject

from .jetstream import LOGS
from .logging import get_logger
from .loops import idle

CAPACITY = 10_000
"""Lines a process holds before it drops its oldest."""
PER_BATCH = 500
"""Lines one message carries at most."""
MAX_VALUE = 4_000
"""Characters of one value kept (the rest cut: a line is not a data dump)."""
EVERY = 0.5
"""Seconds between two publications of the buffer."""
SHOWN = "(set)"
SECRET_KEYS = re.compile(r"pass|pwd|secret|token|credential|private|seal", re.IGNORECASE)
"""Keys whose values are never kept: that they were there, not what they were."""
_USERINFO = re.compile(r"([A-Za-z][A-Za-z0-9+.-]*://[^/\s:@]*):[^@\s/]*@")
"""A URL's password (scheme://user:password@host), wherever it appears in a value."""
_LEFT_OUT = frozenset({"run_id", "job_id", "event", "level", "timestamp"})

SERVICE: ContextVar[str] = ContextVar("idsync_service", default="")
"""The service whose work is being done (consumers.py sets it around each message)."""

log = get_logger("idsync.run_logs")


def clean(key: str, value: Any) -> str:
    """A value as kept: text, without a password, not too long."""
    if SECRET_KEYS.search(key):
        return SHOWN
    text = value if isinstance(value, str) else repr(value)
    text = _USERINFO.sub(r"\1:" + SHOWN + "@", text)
    return text if len(text) <= MAX_VALUE else text[:MAX_VALUE] + "…"


class RunLogs:
    """The lines logged about runs, waiting to be published; a structlog processor."""

    def __init__(self, capacity: int = CAPACITY) -> None:
        self.runner = ""
        """Which machine: the runner id of the services of this process."""
        self._lines: deque[tuple[str, str, LogLine]] = deque()
        self._capacity = capacity
        self._dropped: dict[tuple[str, str], int] = {}
        self._lock = threading.Lock()  # providers log from worker threads too
        self._source = f"{secrets.token_hex(4)}"
        self._number = 0

    def __call__(
        self, logger: Any, method: str, event_dict: MutableMapping[str, Any]
    ) -> MutableMapping[str, Any]:
        run_id, job_id = event_dict.get("run_id"), event_dict.get("job_id")
        if isinstance(run_id, str) and run_id and isinstance(job_id, str):
            line = LogLine(
                at=str(event_dict.get("timestamp", "")),
                level=str(event_dict.get("level", method)),
                event=clean("event", event_dict.get("event", "")),
                service=SERVICE.get(),
                runner=self.runner,
                fields={
                    str(k): clean(str(k), v) for k, v in event_dict.items() if k not in _LEFT_OUT
                },
            )
            with self._lock:
                if len(self._lines) >= self._capacity:
                    old_job, old_run, _ = self._lines.popleft()
                    lost = (old_job, old_run)
                    self._dropped[lost] = self._dropped.get(lost, 0) + 1
                self._lines.append((job_id, run_id, line))
        return event_dict

    def take(self) -> list[LogBatch]:
        """Everything waiting, as batches (at most PER_BATCH lines each), oldest first."""
        with self._lock:
            lines, self._lines = self._lines, deque()
            dropped, self._dropped = self._dropped, {}
        runs: dict[tuple[str, str], list[LogLine]] = {key: [] for key in dropped}
        for job_id, run_id, line in lines:
            runs.setdefault((job_id, run_id), []).append(line)
        batches: list[LogBatch] = []
        for (job_id, run_id), kept in runs.items():
            lost = dropped.get((job_id, run_id), 0)
            for start in range(0, max(len(kept), 1), PER_BATCH):
                self._number += 1
                batches.append(
                    LogBatch(
                        job_id=job_id,
                        run_id=run_id,
                        source=f"{self.runner}-{self._source}",
                        number=self._number,
                        lines=kept[start : start + PER_BATCH],
                        dropped=lost if start == 0 else 0,
                    )
                )
        return batches

    def lost(self, batch: LogBatch) -> None:
        """A batch that could not be published: counted as dropped lines of its run."""
        key = (batch.job_id, batch.run_id)
        with self._lock:
            self._dropped[key] = self._dropped.get(key, 0) + len(batch.lines) + batch.dropped


RUN_LOGS = RunLogs()
"""This process's buffer (one per process: every service in it logs through structlog)."""


async def ship(js: Any, logs: RunLogs = RUN_LOGS, every: float = EVERY) -> None:
    """Publish the buffer every `every` seconds, until cancelled (then once more)."""
    failing = False
    try:
        while True:
            await idle(every)
            failing = await _publish(js, logs, failing)
    finally:  # the last lines of a stopping service
        with contextlib.suppress(TimeoutError, asyncio.CancelledError):
            await asyncio.wait_for(_publish(js, logs, failing), 2.0)


async def _publish(js: Any, logs: RunLogs, failing: bool) -> bool:
    """Publish what waits; whether publishing failed (said once per streak of failures)."""
    failed = False
    for batch in logs.take():
        if failed:
            logs.lost(batch)
            continue
        try:
            await js.publish(
                log_subject(batch.job_id, batch.run_id),
                encode(batch),
                stream=LOGS,
                headers={"Nats-Msg-Id": f"{batch.source}-{batch.number}"},
            )
        except (nats.errors.Error, msgspec.EncodeError, TimeoutError) as error:
            logs.lost(batch)
            failed = True
            if not failing:
                log.warning("runs' log lines not sent; dropped", error=str(error) or repr(error))
    return failed
