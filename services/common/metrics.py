"""The services' Prometheus metrics: every one defined here, one registry per process.

Served on IDSYNC_METRICS_PORT (services/common/health.py) with FastStream's own message
metrics (`idsync_messaging_*`). Names follow Prometheus's advice: the `idsync_` prefix,
base units (seconds, a Unix time), `_total` on counters; labels take bounded values only
(a job's id, an action, an outcome, a consumer) — never a record's key or a run's id.

Most figures are derived in one place, `published`, from the events this process stores
in the journal (a run's end, a dead letter), counted once: a publish the journal refuses
as a duplicate (the same event id) counts nothing. The rest are counted where the work is
done: a batch applied (work.py), planning (run.py), a delivery again (consumers.py), the
consumers' queues (consumers.py's liveness check), the runners alive (the workflow).
"""

from __future__ import annotations

from collections import Counter as Tally
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from time import perf_counter

from prometheus_client import (
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    PlatformCollector,
    ProcessCollector,
)

from core.errors import BadInput, StoreFull, Transient, Unreachable, WriteFailed
from core.errors import RunFailed as RunFailedError
from schemas.events import (
    Event,
    RunCancelled,
    RunDeadLetter,
    RunDenied,
    RunExpired,
    RunFailed,
    RunFinished,
)
from schemas.work import Changes, Creates

REGISTRY = CollectorRegistry()
ProcessCollector(registry=REGISTRY)  # process_cpu_seconds_total, process_resident_memory_bytes…
PlatformCollector(registry=REGISTRY)

# A run takes seconds to hours; a batch milliseconds to minutes.
RUN_BUCKETS = (1, 5, 15, 30, 60, 120, 300, 600, 1800, 3600, 7200, 14400, 43200, 86400)
BATCH_BUCKETS = (0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300)

RUNS = Counter(
    "idsync_runs",
    "Runs ended, by job and outcome (finished, finished_with_errors, staged, failed, "
    "cancelled, denied, expired)",
    ["job_id", "outcome"],
    registry=REGISTRY,
)
RUN_SECONDS = Histogram(
    "idsync_run_duration_seconds",
    "Seconds from a run's approval to its end, for runs that finished",
    ["job_id"],
    buckets=RUN_BUCKETS,
    registry=REGISTRY,
)
PHASE_SECONDS = Histogram(
    "idsync_phase_duration_seconds",
    "Seconds a run spent in a phase: plan (reading both sides and planning, on the "
    "planning runner) and apply (from the plan's first batch queued to the run's end)",
    ["job_id", "phase"],
    buckets=RUN_BUCKETS,
    registry=REGISTRY,
)
LAST_SUCCESS = Gauge(
    "idsync_last_success_timestamp_seconds",
    "Unix time of the job's latest run that finished (with or without record errors)",
    ["job_id"],
    registry=REGISTRY,
)
DEAD_LETTERS = Counter(
    "idsync_dead_letters",
    "Messages given up after their last delivery (stage: plan or batch)",
    ["job_id", "stage"],
    registry=REGISTRY,
)
RECORDS = Counter(
    "idsync_records",
    "Changes applied to destination records, by job, action (create, update, delete, "
    "disable, move, enable…) and result (applied or failed)",
    ["job_id", "action", "result"],
    registry=REGISTRY,
)
BATCH_SECONDS = Histogram(
    "idsync_batch_apply_duration_seconds",
    "Seconds a runner took to apply one batch to the destination",
    ["job_id"],
    buckets=BATCH_BUCKETS,
    registry=REGISTRY,
)
PROVIDER_ERRORS = Counter(
    "idsync_provider_errors",
    "Errors reading or writing a source or destination, by stage (plan, apply) and kind "
    "(bad_input, write_failed, unreachable, transient, store_full, other)",
    ["stage", "kind"],
    registry=REGISTRY,
)
REDELIVERIES = Counter(
    "idsync_redeliveries",
    "Messages this process received again (a retry, or after another's ack wait)",
    ["consumer"],
    registry=REGISTRY,
)
PENDING = Gauge(
    "idsync_consumer_pending_messages",
    "Messages waiting for a durable consumer (the work queue's depth for runner-work)",
    ["consumer"],
    registry=REGISTRY,
)
IN_PROGRESS = Gauge(
    "idsync_consumer_ack_pending_messages",
    "Messages delivered to a durable consumer and not yet acknowledged",
    ["consumer"],
    registry=REGISTRY,
)
REDELIVERED = Gauge(
    "idsync_consumer_redelivered_messages",
    "Messages of a durable consumer delivered more than once and not yet acknowledged",
    ["consumer"],
    registry=REGISTRY,
)
RUNNERS_ALIVE = Gauge(
    "idsync_runners_alive",
    "Runners whose heartbeat is recent (as the workflow reads the runners bucket)",
    registry=REGISTRY,
)
RUNNERS_SILENT = Gauge(
    "idsync_runners_silent",
    "Runners silent for more than three heartbeats (their work goes back to the queue)",
    registry=REGISTRY,
)
READY = Gauge(
    "idsync_ready",
    "1 while this process is connected to NATS with its consumers bound, else 0",
    registry=REGISTRY,
)

_on = False


def enable() -> None:
    """Count from now on (the process serves its metrics); until then nothing is counted."""
    global _on
    _on = True


def enabled() -> bool:
    return _on


_ENDS: dict[type, str] = {
    RunFailed: "failed",
    RunCancelled: "cancelled",
    RunDenied: "denied",
    RunExpired: "expired",
}


def published(event: Event) -> None:
    """Count what a stored event says (called once per event stored, not for duplicates)."""
    if not _on:
        return
    kind = type(event)
    if kind is RunFinished:
        assert isinstance(event, RunFinished)
        outcome = "staged" if event.staged else "finished"
        if event.with_errors:
            outcome = "finished_with_errors"
        RUNS.labels(event.job_id, outcome).inc()
        RUN_SECONDS.labels(event.job_id).observe(event.seconds)
        LAST_SUCCESS.labels(event.job_id).set(event.at.timestamp())
    elif kind in _ENDS:
        RUNS.labels(event.job_id, _ENDS[kind]).inc()
    elif kind is RunDeadLetter:
        assert isinstance(event, RunDeadLetter)
        DEAD_LETTERS.labels(event.job_id, event.stage).inc()


def applied(job_id: str, changes: Changes, errors: Sequence[str | None]) -> None:
    """Count a batch's changes by action and result."""
    if not _on:
        return
    if isinstance(changes, Creates):  # plain creates as columns
        tally = Tally(("create", error is None) for error in errors)
    else:
        tally = Tally(
            (change.action, error is None) for change, error in zip(changes, errors, strict=True)
        )
    for (action, ok), count in tally.items():
        RECORDS.labels(job_id, action, "applied" if ok else "failed").inc(count)


_KINDS: tuple[tuple[type[BaseException], str], ...] = (
    (BadInput, "bad_input"),
    (WriteFailed, "write_failed"),
    (RunFailedError, "write_failed"),
    (Unreachable, "unreachable"),
    (StoreFull, "store_full"),  # before Transient, which it is too
    (Transient, "transient"),
)


def error_kind(error: BaseException) -> str:
    """The bounded name of an error's kind (core/errors.py's classes)."""
    return next((name for kind, name in _KINDS if isinstance(error, kind)), "other")


@contextmanager
def provider_errors(stage: str) -> Iterator[None]:
    """Count an error raised while reading or writing, by its kind; it goes on up."""
    try:
        yield
    except Exception as error:
        if _on:
            PROVIDER_ERRORS.labels(stage, error_kind(error)).inc()
        raise


@contextmanager
def timed(histogram: Histogram, *labels: str) -> Iterator[None]:
    """Observe the seconds the block took (also when it raises)."""
    if not _on:
        yield
        return
    started = perf_counter()
    try:
        yield
    finally:
        histogram.labels(*labels).observe(perf_counter() - started)


def observe(histogram: Histogram, seconds: float, *labels: str) -> None:
    if _on:
        histogram.labels(*labels).observe(seconds)
