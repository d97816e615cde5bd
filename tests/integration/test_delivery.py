"""Durable consumers and deliberate acks, proven against a real nats-server:
a runner that was not running, a runner killed mid-run, a passing error."""

from __future__ import annotations

import asyncio
import signal
import sqlite3
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import fast_depends.utils
import pytest

from schemas.events import (
    RunApproved,
    RunBatchApplied,
    RunDeliveryFailed,
    RunFailed,
    RunFinished,
    RunPlanned,
    RunStarted,
    is_end,
)
from services.cli.client import Session
from services.cli.watch import follow_run
from services.common.host import ServiceHost
from services.common.jetstream import WORKER
from services.common.settings import Settings

from .conftest import JOB_ID, Files, RunServices, apply_files, started
from .journal import events_of_run, wait_for_event
from .processes import runner_process
from .test_flow import table


@contextmanager
def locked(db: Path) -> Iterator[None]:
    """Another program holds the database's write lock."""
    conn = sqlite3.connect(db, isolation_level=None)
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute("BEGIN EXCLUSIVE")
    try:
        yield
    finally:
        conn.execute("ROLLBACK")
        conn.close()


async def test_a_runner_started_after_the_approval_was_stored_completes_the_run(
    files: Files, session: Session, services: RunServices, settings: Settings
) -> None:
    files.write(count=40)
    await apply_files(session, files)
    async with services("workflow", "notifier"):
        run_id = await session.request_run(JOB_ID)
        await wait_for_event(session, lambda e: isinstance(e, RunApproved) and e.run_id == run_id)
        with runner_process(settings) as runner:
            end = await wait_for_event(session, lambda e: is_end(e) and e.run_id == run_id)
            runner.send_signal(signal.SIGTERM)
            assert runner.wait(timeout=20) == 0, "the runner stops cleanly on SIGTERM"
    assert isinstance(end, RunFinished) and end.stats.created == 40
    assert len(table(files.db)) == 40


async def test_a_runner_killed_while_applying_is_replaced_by_another(
    files: Files, session: Session, services: RunServices, settings: Settings
) -> None:
    files.write(count=300)
    await apply_files(session, files)
    files.db.parent.mkdir(parents=True, exist_ok=True)
    async with services("workflow"):
        run_id = await session.request_run(JOB_ID)
        with (
            locked(files.db),
            runner_process(settings, "first", IDSYNC_SQLITE_BUSY_TIMEOUT="60") as first,
        ):
            # The first runner has planned and now waits on the lock, mid-apply: kill it.
            await wait_for_event(
                session, lambda e: isinstance(e, RunPlanned) and e.run_id == run_id
            )
            first.send_signal(signal.SIGKILL)
            first.wait(timeout=10)
        with runner_process(settings, "second"):
            end = await wait_for_event(session, lambda e: is_end(e) and e.run_id == run_id, 60)
    assert isinstance(end, RunFinished), end
    assert end.stats.created == 300
    assert len(table(files.db)) == 300
    events = await events_of_run(session, run_id)
    assert [e.attempt for e in events if isinstance(e, RunStarted)] == [1], "planned once"
    applied = [e for e in events if isinstance(e, RunBatchApplied)]
    assert len(applied) == 1 and applied[0].attempt == 2, "the batch came back to a runner"
    assert sum(isinstance(e, RunFinished) for e in events) == 1


async def test_a_passing_error_is_retried_after_a_delay_not_terminated(
    files: Files,
    session: Session,
    services: RunServices,
    settings: Settings,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("IDSYNC_SQLITE_BUSY_TIMEOUT", "0.05")
    files.write(count=30)
    await apply_files(session, files)
    files.db.parent.mkdir(parents=True, exist_ok=True)
    async with services("workflow", "runner"):
        with locked(files.db):
            run_id = await session.request_run(JOB_ID)
            planned = await wait_for_event(
                session, lambda e: isinstance(e, RunPlanned) and e.run_id == run_id
            )
            await wait_for_event(  # a failed attempt: the lock can go
                session, lambda e: isinstance(e, RunDeliveryFailed) and e.run_id == run_id
            )
        end = await wait_for_event(session, lambda e: is_end(e) and e.run_id == run_id)
    assert isinstance(end, RunFinished) and end.stats.created == 30
    events = await events_of_run(session, run_id)
    assert not any(isinstance(e, RunFailed) for e in events)
    applied = next(e for e in events if isinstance(e, RunBatchApplied))
    assert applied.attempt >= 2, "the batch was delivered again after failing"
    gap = (applied.at - planned.at).total_seconds()
    assert gap >= settings.retry_delay * 0.8, f"redelivered after {gap:.2f}s, not after a delay"


async def test_a_scheduled_job_runs_without_anyone_asking(
    files: Files, session: Session, services: RunServices
) -> None:
    files.write(count=10, schedule="1s")
    await apply_files(session, files)
    async with services():
        end = await wait_for_event(session, lambda e: isinstance(e, RunFinished), timeout=15)
        await asyncio.sleep(0)
    runs = [e for e in await events_of_run(session, end.run_id)]
    requested = runs[0]
    assert requested.__struct_config__.tag == "run.requested"
    assert getattr(requested, "trigger", None) == "schedule"
    assert f"-s-{JOB_ID}" in end.run_id
    assert len(table(files.db)) == 10


async def test_a_stale_pull_answer_does_not_hold_the_next_batch_for_seconds(
    files: Files, session: Session, settings: Settings
) -> None:
    """A pull request's timeout answer (408) that comes in just after its fetch gave up
    lands in the next fetch: nats-py then leaves a pull request behind, which takes a
    later message and holds it until it expires (nats-io/nats.py#986). Here the answer
    is sent on purpose, into every work puller's inbox; two runs follow."""
    files.write(count=10)
    files.db.parent.mkdir(parents=True, exist_ok=True)
    await apply_files(session, files)
    stop, ready = asyncio.Event(), asyncio.Event()
    host = ServiceHost(["workflow", "runner"], settings, settings.nats_url or "")
    task = asyncio.create_task(host.run(stop, ready))
    await started(task, ready)
    try:
        await asyncio.sleep(0.2)  # every puller is waiting on its fetch
        for subscriber, spec in host.bus.watched:
            if spec.name == WORKER.name:
                inbox = subscriber.subscription._deliver
                await session.nc.publish(inbox, b"", headers={"Status": "408"})
        waits = []
        for _ in range(2):
            run_id, _end = await asyncio.wait_for(follow_run(session, JOB_ID, None), 30)
            events = await events_of_run(session, run_id)
            planned = next(e for e in events if isinstance(e, RunPlanned))
            applied = next(e for e in events if isinstance(e, RunBatchApplied))
            waits.append((applied.at - planned.at).total_seconds())
    finally:
        stop.set()
        await asyncio.wait_for(task, 30)
    # A pull request left behind holds a batch until it expires, about 5 s: well above
    # what a loaded machine takes between a plan and its batch.
    assert max(waits) < 2.5, f"batches applied {waits} s after their plan"


async def test_a_run_wakes_no_worker_thread_to_hand_a_message_to_its_handler(
    files: Files, session: Session, services: RunServices, monkeypatch: pytest.MonkeyPatch
) -> None:
    """FastDepends runs in a worker thread whatever a handler asks of it that is not a
    coroutine: FastStream's own lookup of the message was one, for every message. Each
    handler of the services takes its message from the event loop instead."""
    sent_to_threads: list[str] = []
    to_thread = fast_depends.utils.run_in_threadpool

    async def watched(func: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
        sent_to_threads.append(getattr(func, "__qualname__", repr(func)))
        return await to_thread(func, *args, **kwargs)

    monkeypatch.setattr(fast_depends.utils, "run_in_threadpool", watched)
    files.write(count=20)
    await apply_files(session, files)
    async with services("workflow", "runner"):  # asked by a command, then work and events
        _, end = await asyncio.wait_for(follow_run(session, JOB_ID, None), 30)
    assert isinstance(end, RunFinished) and end.stats.created == 20
    assert sent_to_threads == []
