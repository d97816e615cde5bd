"""A run's log lines: kept for the history when a run is bound, without secrets, in a
bounded buffer that drops its oldest and says how many (services/common/run_logs.py)."""

from __future__ import annotations

import io
from collections.abc import Iterator

import pytest
import structlog

from schemas.logs import LogBatch
from services.common.logging import get_logger
from services.common.run_logs import RUN_LOGS, SERVICE, RunLogs, clean
from services.recorder.logs import DROPPED, rows_of

from ..log_capture import logged


@pytest.fixture
def shown() -> Iterator[io.StringIO]:
    RUN_LOGS.take()  # nothing left over from another test
    try:
        with logged(runs=True) as out:
            yield out
    finally:
        RUN_LOGS.take()


def test_a_line_logged_about_a_run_is_kept_rendered_and_without_secrets(
    shown: io.StringIO,
) -> None:
    log = get_logger("idsync.runner")
    RUN_LOGS.runner = "host-7"
    log.info("about no run")
    token = SERVICE.set("runner")
    try:
        with structlog.contextvars.bound_contextvars(job_id="hr", run_id="r1"):
            log.warning(
                "destination slow",
                batch=3,
                password="hunter2",
                bind_pwd="hunter3",
                url="postgresql://sync:hunter4@db.example.org/hr",
            )
            log.debug("below the level: not logged, not kept")
    finally:
        SERVICE.reset(token)
    [batch] = RUN_LOGS.take()
    assert (batch.job_id, batch.run_id, batch.dropped) == ("hr", "r1", 0)
    [line] = batch.lines
    assert (line.level, line.event, line.service, line.runner) == (
        "warning",
        "destination slow",
        "runner",
        "host-7",
    )
    assert line.at.startswith("20")
    assert line.fields == {
        "batch": "3",
        "password": "(set)",
        "bind_pwd": "(set)",
        "url": "postgresql://sync:(set)@db.example.org/hr",
    }
    assert "hunter" not in repr(batch)
    assert "destination slow" in shown.getvalue(), "the line is still logged as before"


def test_a_full_buffer_drops_its_oldest_lines_and_counts_them_per_run() -> None:
    logs = RunLogs(capacity=3)
    for n in range(5):
        logs(None, "info", {"event": f"line {n}", "job_id": "hr", "run_id": f"r{n % 2}"})
    batches = {b.run_id: b for b in logs.take()}
    kept = {run: [line.event for line in b.lines] for run, b in batches.items()}
    assert kept == {"r0": ["line 2", "line 4"], "r1": ["line 3"]}
    assert {run: b.dropped for run, b in batches.items()} == {"r0": 1, "r1": 1}
    assert logs.take() == [], "taken once"


def test_a_batch_not_sent_is_counted_with_the_runs_next_one() -> None:
    logs = RunLogs()
    logs(None, "info", {"event": "one", "job_id": "hr", "run_id": "r1"})
    [batch] = logs.take()
    logs.lost(batch)
    [again] = logs.take()
    assert again.lines == [] and again.dropped == 1
    [row] = rows_of(again)
    assert DROPPED in row and '"dropped":"1"' in row[-1]


def test_the_recorders_rows_name_the_process_and_its_batch() -> None:
    logs = RunLogs()
    logs.runner = "host-1"
    for n in range(3):
        logs(None, "warning", {"event": f"e{n}", "job_id": "hr", "run_id": "r1"})
    [batch] = logs.take()
    assert isinstance(batch, LogBatch) and batch.source.startswith("host-1-")
    rows = rows_of(batch)
    assert [r[3] for r in rows] == [0, 1, 2] and {r[2] for r in rows} == {batch.number}


def test_clean_cuts_long_values() -> None:
    assert len(clean("note", "x" * 10_000)) < 4_100
    assert clean("token", "abc") == "(set)"
