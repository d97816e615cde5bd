"""Incremental runs through every service: only the changed records are read, nothing is
deleted, and the job's watermark moves only when a run finishes."""

from __future__ import annotations

import csv
import sqlite3
from pathlib import Path

import pytest

from core.errors import BadInput
from schemas.events import Event, RunDeliveryFailed, RunFailed, RunFinished, RunPlanned, is_end
from services.cli.client import Session
from services.cli.watch import follow_run
from services.common.people import people
from services.common.watermarks import Memory

from .conftest import JOB_ID, Files, RunServices, apply_files, job_toml
from .journal import events_of_run, wait_for_event
from .test_delivery import locked

CHANGES = 'changes = { field = "modified_at" }'


def stamped(count: int, start: int = 1) -> list[dict[str, str]]:
    """People, each last changed at its own minute of 1 November."""
    rows = people(count, start=start)
    for i, row in enumerate(rows):
        row["modified_at"] = f"2026-11-01T00:{i:02d}:00Z"
    return rows


def write(path: Path, rows: list[dict[str, str]]) -> None:
    with path.open("w", newline="", encoding="utf-8") as out:
        writer = csv.DictWriter(out, fieldnames=list(rows[0]), delimiter=";")
        writer.writeheader()
        writer.writerows(rows)


def departments(files: Files) -> dict[str, str]:
    with sqlite3.connect(files.db) as db:
        return dict(db.execute("SELECT employee_id, department FROM people").fetchall())


async def run(session: Session, changed_only: bool = False) -> tuple[str, Event]:
    return await follow_run(session, JOB_ID, None, changed_only=changed_only)


async def planned(session: Session, run_id: str) -> RunPlanned:
    [event] = [e for e in await events_of_run(session, run_id) if isinstance(e, RunPlanned)]
    return event


async def test_a_changed_only_run_sees_only_what_changed_and_deletes_nothing(
    files: Files, session: Session, services: RunServices
) -> None:
    files.write(count=1)
    rows = stamped(20)
    write(files.csv, rows)
    files.job.write_text(job_toml(extra=CHANGES))
    await apply_files(session, files)
    memory = Memory(session.js)
    async with services():
        _, first = await run(session)
        assert isinstance(first, RunFinished) and first.stats.created == 20
        mark = await memory.watermark(JOB_ID)
        assert mark is not None and mark.value == "2026-11-01T00:19:00Z"
        assert mark.full_at is not None, "a full run says when it was"

        gone, changed = rows.pop(), rows[0]  # one leaves, one moves, one joins
        changed.update(department="Moved", modified_at="2026-11-02T08:00:00Z")
        joiner = stamped(1, start=100)[0] | {"modified_at": "2026-11-02T09:00:00Z"}
        write(files.csv, [*rows, joiner])
        run_id, second = await run(session, changed_only=True)
        assert isinstance(second, RunFinished), second
        assert (second.stats.created, second.stats.updated, second.stats.deleted) == (1, 1, 0)
        plan = await planned(session, run_id)
        assert plan.incremental and plan.since == "2026-11-01T00:19:00Z"
        assert plan.source_records == 2, "only the two changed rows were read"
        assert departments(files)[changed["employee_id"]] == "Moved"
        assert gone["employee_id"] in departments(files), "an incremental run deletes nothing"
        mark = await memory.watermark(JOB_ID)
        assert mark is not None and mark.value == "2026-11-02T09:00:00Z"

        _, full = await run(session)
        assert isinstance(full, RunFinished) and full.stats.deleted == 1
    assert gone["employee_id"] not in departments(files)


async def test_a_failed_run_leaves_the_watermark_where_it_was(
    files: Files, session: Session, services: RunServices
) -> None:
    files.write(count=1)
    rows = stamped(10)
    write(files.csv, rows)
    files.job.write_text(job_toml(extra=CHANGES))
    await apply_files(session, files)
    memory = Memory(session.js)
    async with services():
        await run(session)
        before = await memory.watermark(JOB_ID)
        assert before is not None and before.value == "2026-11-01T00:09:00Z"

        rows[3].update(department="Later", modified_at="2026-11-03T00:00:00Z")
        write(files.csv, rows)
        with files.csv.open("a", encoding="utf-8") as out:
            out.write("broken;row\n")  # a ragged row: the run fails while planning
        _, failed = await run(session, changed_only=True)
        assert isinstance(failed, RunFailed) and "fields, the header has" in failed.reason
        after = await memory.watermark(JOB_ID)
        assert after is not None and (after.value, after.run_id) == (before.value, before.run_id)

        write(files.csv, rows)  # fixed: the change the failed run missed is read now
        _, fixed = await run(session, changed_only=True)
    assert isinstance(fixed, RunFinished) and fixed.stats.updated == 1
    assert departments(files)[rows[3]["employee_id"]] == "Later"


async def test_changed_only_on_a_job_without_changes_is_refused_saying_what_to_add(
    files: Files, session: Session, services: RunServices
) -> None:
    files.write(count=3)
    await apply_files(session, files)
    async with services():
        with pytest.raises(BadInput, match=r"add changes = \{ field"):
            await session.request_run(JOB_ID, changed_only=True)
    assert await session.journal() == [], "refused when asked: no run at all"
    assert not files.db.exists()


async def test_a_change_after_a_malformed_change_value_is_still_read_next_time(
    files: Files, session: Session, services: RunServices
) -> None:
    files.write(count=1)
    rows = stamped(10)
    rows[2]["modified_at"] = "N/A"  # compared as text, above every timestamp
    write(files.csv, rows)
    files.job.write_text(job_toml(extra=CHANGES))
    await apply_files(session, files)
    memory = Memory(session.js)
    async with services():
        _, first = await run(session)
        assert isinstance(first, RunFinished) and first.stats.created == 10
        mark = await memory.watermark(JOB_ID)
        assert mark is not None and mark.value == "2026-11-01T00:09:00Z"

        rows[5].update(department="Moved", modified_at="2026-11-02T08:00:00Z")
        write(files.csv, rows)
        run_id, second = await run(session, changed_only=True)
        assert isinstance(second, RunFinished), second
        plan = await planned(session, run_id)
        assert plan.incremental and plan.source_records == 3, "the change, N/A, the row at the mark"
        assert departments(files)[rows[5]["employee_id"]] == "Moved"
        mark = await memory.watermark(JOB_ID)
        assert mark is not None and mark.value == "2026-11-02T08:00:00Z"


async def test_a_run_scoped_to_keys_moves_neither_the_watermark_nor_the_last_full_run(
    files: Files, session: Session, services: RunServices
) -> None:
    files.write(count=1)
    rows = stamped(10)
    write(files.csv, rows)
    files.job.write_text(job_toml(extra=CHANGES))
    await apply_files(session, files)
    memory = Memory(session.js)
    async with services():
        _, first = await run(session)
        assert isinstance(first, RunFinished) and first.stats.created == 10
        before = await memory.watermark(JOB_ID)
        assert before is not None and before.value == "2026-11-01T00:09:00Z"

        # Two records change; a run scoped to the second one's key writes it alone.
        rows[2].update(department="Left alone", modified_at="2026-11-02T08:00:00Z")
        rows[5].update(department="Asked for", modified_at="2026-11-02T09:00:00Z")
        write(files.csv, rows)
        _, scoped = await follow_run(session, JOB_ID, [rows[5]["employee_id"]])
        assert isinstance(scoped, RunFinished) and scoped.stats.updated == 1, scoped
        assert departments(files)[rows[2]["employee_id"]] != "Left alone"
        after = await memory.watermark(JOB_ID)
        assert after is not None
        assert after.value == before.value, "the change it left alone is still to be read"
        assert after.full_at == before.full_at, "it acted on no absence: no full run"

        _, changed = await run(session, changed_only=True)
    assert isinstance(changed, RunFinished) and changed.stats.updated == 1, changed
    assert departments(files)[rows[2]["employee_id"]] == "Left alone"


async def test_a_job_given_another_change_field_during_a_run_reads_every_record_next(
    files: Files, session: Session, services: RunServices, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The run's watermark is a value of the field it read: kept under that field, not
    the one the job names by the time the run finishes, it hides no change of the other."""
    monkeypatch.setenv("IDSYNC_SQLITE_BUSY_TIMEOUT", "0.05")
    files.write(count=1)
    rows = stamped(10)
    for i, row in enumerate(rows):
        row["hr_changed"] = f"2025-01-01T00:{i:02d}:00Z"  # before every modified_at
    write(files.csv, rows)
    files.job.write_text(job_toml(extra=CHANGES))
    files.db.parent.mkdir(parents=True, exist_ok=True)
    await apply_files(session, files)
    memory = Memory(session.js)
    async with services():
        with locked(files.db):  # the run's batch waits, retried, while the job changes
            run_id = await session.request_run(JOB_ID)
            await wait_for_event(
                session, lambda e: isinstance(e, RunDeliveryFailed) and e.run_id == run_id
            )
            files.job.write_text(job_toml(extra='changes = { field = "hr_changed" }'))
            await apply_files(session, files)
        first = await wait_for_event(session, lambda e: is_end(e) and e.run_id == run_id)
        assert isinstance(first, RunFinished) and first.stats.created == 10, first
        mark = await memory.watermark(JOB_ID)
        assert mark is not None and (mark.field, mark.value) != (
            "hr_changed",
            "2026-11-01T00:09:00Z",
        ), "a value of modified_at kept as hr_changed's"

        rows[4].update(department="Moved", hr_changed="2025-06-01T00:00:00Z")
        write(files.csv, rows)
        _, changed = await run(session, changed_only=True)
    assert isinstance(changed, RunFinished) and changed.stats.updated == 1, changed
    assert departments(files)[rows[4]["employee_id"]] == "Moved"


async def test_a_job_given_another_source_reads_every_record_of_it_next(
    files: Files, session: Session, services: RunServices
) -> None:
    """A watermark is a value of the source it was read from: the job's next source
    (another file, its changes stamped earlier) is read whole, not from that value."""
    files.write(count=1)
    write(files.csv, stamped(10))
    files.job.write_text(job_toml(extra=CHANGES))
    await apply_files(session, files)
    async with services():
        _, first = await run(session)
        assert isinstance(first, RunFinished) and first.stats.created == 10
        other = stamped(5, start=100)
        for i, row in enumerate(other):
            row["modified_at"] = f"2026-10-01T00:{i:02d}:00Z"  # before the watermark
        write(files.csv.with_name("other.csv"), other)
        files.job.write_text(job_toml(extra=CHANGES).replace("people.csv", "other.csv"))
        await apply_files(session, files)
        _, changed = await run(session, changed_only=True)
    assert isinstance(changed, RunFinished) and changed.stats.created == 5, changed
    assert {row["employee_id"] for row in other} <= set(departments(files))
