"""A run's log lines, as the services logged them while they worked on the run.

Each service process gathers the lines logged with a run bound (structlog context
variables `job_id`, `run_id`) and publishes them in batches on `idsync.log.<job>.<run>`
(subjects.log_subject), into a stream of their own; the recorder keeps them with the
run's history, and `idsync run review` shows them.
"""

from __future__ import annotations

import msgspec


class LogLine(msgspec.Struct, frozen=True, kw_only=True, omit_defaults=True):
    """One line, rendered: never a secret (a password-like key's value says "(set)")."""

    at: str
    """When it was logged (ISO 8601, UTC, the logging machine's clock)."""
    level: str
    event: str
    service: str = ""
    """The service whose work logged it (runner, workflow, notifier, recorder)."""
    runner: str = ""
    """The process's runner id (IDSYNC_RUNNER_ID): which machine logged it."""
    fields: dict[str, str] = msgspec.field(default_factory=dict)
    """The line's other key/values, each as text (job_id and run_id left out)."""


class LogBatch(msgspec.Struct, frozen=True, kw_only=True):
    job_id: str
    run_id: str
    source: str
    """The process that logged them (its runner id and a token of its start)."""
    number: int
    """The process's batch number: (source, number) names the batch."""
    lines: list[LogLine]
    dropped: int = 0
    """Lines of the run this process dropped since its previous batch (its buffer was full)."""


_encoder = msgspec.json.Encoder()
batch_decoder = msgspec.json.Decoder(LogBatch)
lines_decoder = msgspec.json.Decoder(list[LogLine])


def encode(batch: LogBatch | list[LogLine]) -> bytes:
    return _encoder.encode(batch)
