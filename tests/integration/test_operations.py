"""What an operator meets when something goes wrong: retries with growing delays, dead
letters listed and retried, full streams that refuse instead of dropping."""

from __future__ import annotations

import asyncio
import io
import json
import signal
import time
from collections.abc import Iterator
from typing import Any

import msgspec
import pytest
from opentelemetry.context import Context
from opentelemetry.sdk.trace import Span, SpanProcessor, TracerProvider

from schemas.events import (
    RunBatchApplied,
    RunCancelled,
    RunDeadLetter,
    RunFailed,
    RunFinished,
    RunPlanned,
    is_end,
)
from services.cli.client import Session
from services.common import tracing
from services.common.deadletters import dead_letters
from services.common.host import run_services
from services.common.settings import Settings
from services.runner.planning import low_memory

from ..log_capture import logged
from .conftest import JOB_ID, Files, RunServices, apply_files, started
from .journal import wait_for_event
from .processes import runner_process
from .test_cli import idsync
from .test_delivery import locked
from .test_flow import table
from .test_history import sent_as_columns


@pytest.fixture
def logs() -> Iterator[io.StringIO]:
    """The services' log lines (JSON), as an operator's log collector would see them."""
    with logged() as buffer:
        yield buffer


def retries(logs: io.StringIO) -> list[float]:
    lines = [json.loads(line) for line in logs.getvalue().splitlines() if line.startswith("{")]
    return [line["retry_in"] for line in lines if line["event"] == "failed, will retry"]


async def impatient_job(
    files: Files, session: Session, monkeypatch: pytest.MonkeyPatch, count: int
) -> None:
    """The test job, its SQLite destination giving up at once on another program's lock."""
    monkeypatch.setenv("IDSYNC_SQLITE_BUSY_TIMEOUT", "0.05")
    files.write(count=count)
    files.db.parent.mkdir(parents=True, exist_ok=True)
    await apply_files(session, files)


@pytest.fixture
def settings(settings: Settings) -> Settings:
    return msgspec.structs.replace(settings, max_deliver=3, retry_delay=0.2)


async def test_a_passing_fault_is_retried_with_growing_delays_then_succeeds(
    files: Files,
    session: Session,
    services: RunServices,
    logs: io.StringIO,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    await impatient_job(files, session, monkeypatch, count=20)
    async with services("workflow", "runner"):
        with locked(files.db):  # fails the first two deliveries of the batch
            run_id = await session.request_run(JOB_ID)
            while len(retries(logs)) < 2:
                await asyncio.sleep(0.05)
        end = await wait_for_event(session, lambda e: is_end(e) and e.run_id == run_id)
    assert isinstance(end, RunFinished) and end.stats.created == 20
    first, second = retries(logs)[:2]
    assert second > first, "each retry waits longer than the one before"
    assert len(table(files.db)) == 20


async def test_a_permanent_fault_becomes_a_dead_letter_that_a_retry_brings_back(
    files: Files,
    session: Session,
    services: RunServices,
    settings: Settings,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    await impatient_job(files, session, monkeypatch, count=20)
    async with services("workflow", "runner"):
        with locked(files.db):  # every delivery fails while the lock is held
            run_id = await session.request_run(JOB_ID)
            dead = await wait_for_event(
                session, lambda e: isinstance(e, RunDeadLetter) and e.run_id == run_id
            )
            listed = json.loads((await idsync(settings, "deadletter", "list", "--json")).stdout)
        assert isinstance(dead, RunDeadLetter) and dead.batch == 1 and dead.changes == 20
        assert "locked" in dead.error
        [letter] = listed
        assert letter["run_id"] == run_id and letter["deliveries"] == settings.max_deliver
        assert letter["what"] == "batch 1 (20 changes)"
        assert not any(is_end(e) for e in await session.journal() if e.run_id == run_id)
        retried = await idsync(settings, "deadletter", "retry", str(letter["seq"]))
        assert retried.returncode == 0, retried.stderr
        end = await wait_for_event(session, lambda e: is_end(e) and e.run_id == run_id)
    assert isinstance(end, RunFinished) and end.stats.created == 20
    assert await dead_letters(session.js) == []
    assert len(table(files.db)) == 20


async def test_a_dead_letter_is_listed_as_soon_as_the_run_says_it_waits_on_it(
    files: Files,
    session: Session,
    services: RunServices,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # Two batches held by the one runner, each waiting half a second on another program's
    # lock: the first is given up on while the runner still works on the second.
    monkeypatch.setenv("IDSYNC_SQLITE_BUSY_TIMEOUT", "0.5")
    files.write(count=20, batch_size=10)
    files.db.parent.mkdir(parents=True, exist_ok=True)
    await apply_files(session, files)
    async with services("workflow", "runner"):
        with locked(files.db):
            run_id = await session.request_run(JOB_ID)
            dead = await wait_for_event(
                session, lambda e: isinstance(e, RunDeadLetter) and e.run_id == run_id, 60
            )
            listed = await dead_letters(session.js)
    assert isinstance(dead, RunDeadLetter)
    assert (run_id, f"batch {dead.batch} (10 changes)") in [(d.run_id, d.what) for d in listed]


async def test_a_dropped_dead_letter_ends_the_run_with_its_changes_failed(
    files: Files,
    session: Session,
    services: RunServices,
    settings: Settings,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    await impatient_job(files, session, monkeypatch, count=10)
    async with services("workflow", "runner"):
        with locked(files.db):
            run_id = await session.request_run(JOB_ID)
            await wait_for_event(
                session, lambda e: isinstance(e, RunDeadLetter) and e.run_id == run_id
            )
        [letter] = await dead_letters(session.js)
        assert (await idsync(settings, "deadletter", "drop", str(letter.seq))).returncode == 0
        end = await wait_for_event(session, lambda e: is_end(e) and e.run_id == run_id)
    assert isinstance(end, RunFinished) and end.with_errors
    assert (end.stats.failed, end.stats.dead_letters, end.stats.created) == (10, 1, 0)


@pytest.mark.parametrize("then", ["retry", "drop"])
async def test_a_dead_letter_sent_as_columns_is_listed_retried_and_dropped_as_any(
    files: Files,
    session: Session,
    services: RunServices,
    settings: Settings,
    monkeypatch: pytest.MonkeyPatch,
    then: str,
) -> None:
    """A first run's batch of plain creates sent as columns (planned with its creates on
    disk) that becomes a dead letter is listed with its changes, and a retry applies
    them, a drop fails them, as a batch sent as a list of changes."""
    monkeypatch.setattr(low_memory, "LEAN_ABOVE", -1)
    await impatient_job(files, session, monkeypatch, count=12)
    async with services("workflow", "runner"):
        with locked(files.db):
            run_id = await session.request_run(JOB_ID)
            dead = await wait_for_event(
                session, lambda e: isinstance(e, RunDeadLetter) and e.run_id == run_id
            )
            listed = json.loads((await idsync(settings, "deadletter", "list", "--json")).stdout)
        assert await sent_as_columns(session, run_id) == [True]
        assert isinstance(dead, RunDeadLetter) and (dead.batch, dead.changes) == (1, 12)
        [letter] = listed
        assert letter["what"] == "batch 1 (12 changes)"
        done = await idsync(settings, "deadletter", then, str(letter["seq"]))
        assert done.returncode == 0, done.stderr
        end = await wait_for_event(session, lambda e: is_end(e) and e.run_id == run_id)
    assert isinstance(end, RunFinished)
    assert await dead_letters(session.js) == []
    if then == "retry":
        assert (end.stats.created, end.stats.failed) == (12, 0)
        assert sorted(table(files.db)) == [f"E{i:06d}" for i in range(1, 13)]
    else:
        assert (end.stats.failed, end.stats.dead_letters, end.stats.created) == (12, 1, 0)


async def test_a_full_work_queue_fails_the_run_with_the_reason(
    files: Files, session: Session, settings: Settings
) -> None:
    files.write(count=2_000, batch_size=100)
    files.db.parent.mkdir(parents=True, exist_ok=True)
    await apply_files(session, files)
    small = msgspec.structs.replace(settings, work_max_bytes=20_000)
    stop, ready = asyncio.Event(), asyncio.Event()
    services = asyncio.create_task(
        run_services(["workflow", "runner"], small, settings.nats_url or "", stop, ready)
    )
    await started(services, ready)
    try:
        with locked(files.db):  # nothing is applied: the batches stay in the queue
            run_id = await session.request_run(JOB_ID)
            end = await wait_for_event(session, lambda e: is_end(e) and e.run_id == run_id)
    finally:
        stop.set()
        await services
    assert isinstance(end, RunFailed)
    assert "IDSYNC_WORK is full" in end.reason and "nothing stored was dropped" in end.reason
    events = [e for e in await session.journal() if e.run_id == run_id]
    assert any(isinstance(e, RunPlanned) for e in events), "every event before it is kept"


class Applying(SpanProcessor):
    """Counts the batches a runner in this process has begun to write: its `batch` span
    opens once the run's state let it start, right before the provider writes."""

    def __init__(self) -> None:
        self.begun = 0

    def on_start(self, span: Span, parent_context: Context | None = None) -> None:
        if span.name == "batch":
            self.begun += 1


@pytest.fixture
def applying() -> Iterator[Applying]:
    seen = Applying()
    provider = TracerProvider()
    provider.add_span_processor(seen)
    tracing.install(provider)
    yield seen
    tracing.uninstall()


async def test_after_a_cancel_is_acknowledged_no_new_batch_starts(
    files: Files,
    session: Session,
    settings: Settings,
    monkeypatch: pytest.MonkeyPatch,
    applying: Applying,
) -> None:
    monkeypatch.setenv("IDSYNC_SQLITE_BUSY_TIMEOUT", "60")  # batch 1 waits out the cancel
    files.write(count=100, batch_size=10)
    files.db.parent.mkdir(parents=True, exist_ok=True)
    await apply_files(session, files)
    one_at_a_time = msgspec.structs.replace(settings, runner_concurrency=1)
    stop, ready = asyncio.Event(), asyncio.Event()
    services = asyncio.create_task(
        run_services(["workflow", "runner"], one_at_a_time, settings.nats_url or "", stop, ready)
    )
    await started(services, ready)
    try:
        with locked(files.db):  # batch 1 is being applied, waiting on the lock
            run_id = await session.request_run(JOB_ID)
            deadline = time.monotonic() + 30
            while applying.begun < 1:
                assert time.monotonic() < deadline, "the runner never began batch 1"
                await asyncio.sleep(0.05)
            cancelled = await idsync(settings, "run", "cancel", run_id, "--reason", "wrong file")
            assert cancelled.returncode == 0, cancelled.stderr
        end = await wait_for_event(session, lambda e: is_end(e) and e.run_id == run_id)
        await asyncio.sleep(1.0)  # time for any further batch to (wrongly) start
    finally:
        stop.set()
        await services
    assert isinstance(end, RunCancelled) and end.reason == "wrong file" and end.by == "tester"
    applied = [e for e in await session.journal() if isinstance(e, RunBatchApplied)]
    assert [e.batch for e in applied if e.run_id == run_id] == [1], "only the batch in flight"
    assert len(table(files.db)) == 10
    # What the run says it did is what the table holds: the batch in flight, applied after
    # the cancel, counts (its run.batch-applied follows run.cancelled in the journal).
    shown = await idsync(settings, "run", "show", run_id, "--json")
    assert shown.returncode == 0, shown.stderr
    told = json.loads(shown.stdout)
    assert told["state"] == "cancelled" and told["stats"]["created"] == 10, told["stats"]


async def test_a_run_past_its_time_limit_is_cancelled(
    files: Files, session: Session, services: RunServices
) -> None:
    files.write(count=50, batch_size=10, extra='timeout = "1s"')
    files.db.parent.mkdir(parents=True, exist_ok=True)
    await apply_files(session, files)
    async with services("workflow", "runner"):
        with locked(files.db):
            run_id = await session.request_run(JOB_ID)
            await wait_for_event(
                session, lambda e: isinstance(e, RunPlanned) and e.run_id == run_id
            )
            await asyncio.sleep(1.5)
        end = await wait_for_event(session, lambda e: is_end(e) and e.run_id == run_id)
    assert isinstance(end, RunCancelled) and "timed out" in end.reason
    assert len(table(files.db)) < 50


async def test_a_runner_stopped_without_a_goodbye_is_reported_and_its_work_redelivered(
    files: Files, session: Session, services: RunServices, settings: Settings
) -> None:
    files.write(count=40)
    files.db.parent.mkdir(parents=True, exist_ok=True)
    await apply_files(session, files)
    quick = {"IDSYNC_HEARTBEAT_INTERVAL": "0.3", "IDSYNC_SQLITE_BUSY_TIMEOUT": "60"}
    async with services("workflow"):
        with runner_process(settings, "frozen", **quick) as frozen:
            with locked(files.db):  # the frozen runner is in the middle of the batch
                run_id = await session.request_run(JOB_ID)
                await wait_for_event(
                    session, lambda e: isinstance(e, RunPlanned) and e.run_id == run_id
                )
                listed = await working_on(settings, "batch 1")
                assert [r["runner_id"] for r in listed] == ["frozen"]
                frozen.send_signal(signal.SIGSTOP)  # no goodbye, no more heartbeats
                await asyncio.sleep(1.5)
            silent = json.loads((await idsync(settings, "runner", "list", "--json")).stdout)
            assert silent[0]["silent_for"] > 0, "a runner that stopped is reported"
            doctor = await idsync(settings, "doctor")
            assert doctor.returncode == 6 and "runner frozen: silent" in doctor.stdout
            with runner_process(settings, "rescuer", IDSYNC_HEARTBEAT_INTERVAL="0.3"):
                end = await wait_for_event(session, lambda e: is_end(e) and e.run_id == run_id)
            frozen.send_signal(signal.SIGKILL)
    assert isinstance(end, RunFinished) and end.stats.created == 40
    applied = [e for e in await session.journal() if isinstance(e, RunBatchApplied)]
    assert {e.runner for e in applied} == {"rescuer"}, "the frozen runner's batch went back"
    assert len(table(files.db)) == 40


async def working_on(settings: Settings, what: str, timeout: float = 30) -> list[Any]:
    """`idsync runner list --json`, once a runner's heartbeat says it works on `what`."""
    deadline = time.monotonic() + timeout
    while True:
        listed: list[Any] = json.loads((await idsync(settings, "runner", "list", "--json")).stdout)
        if any(what in w for r in listed for w in r["working"]):
            return listed
        assert time.monotonic() < deadline, f"no runner said it works on {what}: {listed}"
        await asyncio.sleep(0.1)


async def test_no_dead_letters_is_said_plainly(settings: Settings, session: Session) -> None:
    result = await idsync(settings, "deadletter", "list")
    assert result.returncode == 0 and result.stdout.strip() == "no dead letters"
    assert (await idsync(settings, "deadletter", "list", "--json")).stdout.strip() == "[]"
