"""The figures derived from events (services/common/metrics.py), and that tracing off
costs nothing: no OpenTelemetry SDK loaded, no middleware, an empty span."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from core.errors import BadInput, NotFound, StoreFull, Transient, Unreachable, WriteFailed
from schemas.events import (
    RunCancelled,
    RunDeadLetter,
    RunFailed,
    RunFinished,
    RunStarted,
)
from schemas.plan import Change, RunStats
from services.common import metrics, tracing

ROOT = Path(__file__).resolve().parents[2]


def value(name: str, **labels: str) -> float:
    return metrics.REGISTRY.get_sample_value(name, labels) or 0.0


def test_each_end_counts_as_its_outcome_and_a_finish_sets_the_last_success() -> None:
    metrics.enable()
    job = "unit-metrics-job"
    before = {o: value("idsync_runs_total", job_id=job, outcome=o) for o in ("finished", "failed")}
    finished = RunFinished(run_id="r1", job_id=job, stats=RunStats(), plan_hash="h", seconds=12.5)
    metrics.published(finished)
    metrics.published(RunFailed(run_id="r2", job_id=job, reason="bad file"))
    metrics.published(RunCancelled(run_id="r3", job_id=job, by="ada"))
    metrics.published(RunStarted(run_id="r4", job_id=job, runner="x", attempt=1))
    metrics.published(RunDeadLetter(run_id="r5", job_id=job, stage="batch", error="e"))
    metrics.published(
        RunFinished(
            run_id="r6", job_id=job, stats=RunStats(), plan_hash="h", seconds=1, with_errors=True
        )
    )
    assert value("idsync_runs_total", job_id=job, outcome="finished") == before["finished"] + 1
    assert value("idsync_runs_total", job_id=job, outcome="failed") == before["failed"] + 1
    assert value("idsync_runs_total", job_id=job, outcome="cancelled") >= 1
    assert value("idsync_runs_total", job_id=job, outcome="finished_with_errors") >= 1
    assert value("idsync_dead_letters_total", job_id=job, stage="batch") >= 1
    assert value("idsync_last_success_timestamp_seconds", job_id=job) > finished.at.timestamp() - 1
    assert value("idsync_run_duration_seconds_sum", job_id=job) >= 12.5


def test_changes_count_by_action_and_result() -> None:
    metrics.enable()
    job = "unit-metrics-changes"
    changes = [
        Change(action="create", key="1", match={"id": "1"}),
        Change(action="create", key="2", match={"id": "2"}),
        Change(action="delete", key="3", match={"id": "3"}),
    ]
    metrics.applied(job, changes, [None, "refused", None])
    assert value("idsync_records_total", job_id=job, action="create", result="applied") == 1
    assert value("idsync_records_total", job_id=job, action="create", result="failed") == 1
    assert value("idsync_records_total", job_id=job, action="delete", result="applied") == 1


def test_errors_are_named_by_a_bounded_kind() -> None:
    assert metrics.error_kind(NotFound("x")) == "bad_input"
    assert metrics.error_kind(BadInput("x")) == "bad_input"
    assert metrics.error_kind(WriteFailed("x")) == "write_failed"
    assert metrics.error_kind(Unreachable("x")) == "unreachable"
    assert metrics.error_kind(StoreFull("x")) == "store_full"
    assert metrics.error_kind(Transient("x")) == "transient"
    assert metrics.error_kind(KeyError("x")) == "other"


def test_tracing_off_loads_no_sdk_and_adds_nothing() -> None:
    assert tracing.middlewares() == []
    with tracing.span("plan", job_id="j"):
        pass
    probe = (
        "import sys\n"
        "import services.common.host, services.runner.app, services.workflow.app\n"
        "from services.common import tracing\n"
        "from services.common.settings import Settings\n"
        "assert not tracing.start(Settings(), ['runner'])\n"
        "assert tracing.middlewares() == []\n"
        "loaded = sorted(m for m in sys.modules if m.startswith(('opentelemetry.sdk',"
        " 'opentelemetry.exporter')))\n"
        "assert not loaded, loaded\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", probe], cwd=ROOT, capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 0, done.stderr
