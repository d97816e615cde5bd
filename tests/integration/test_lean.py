"""Large destinations are planned from per-key digests (runner/planning/low_memory.py), and
their creates kept on disk while planned (spill.py): the same changes as the ordinary
planning, whatever the sizes that switch them on."""

from __future__ import annotations

import pytest

from schemas.events import RunAwaitingApproval, RunFailed, RunFinished, is_end
from services.cli.client import Session
from services.cli.watch import follow_run
from services.common.people import write_csv
from services.runner.planning import low_memory as lean
from services.runner.planning import spill

from .conftest import JOB_ID, Files, RunServices, apply_files
from .journal import wait_for_event
from .test_flow import table

WAYS = {"digests": (0, 50_000), "digests-creates-on-disk": (0, 7), "records": (10**9, 7)}
"""Each way of planning: the size above which a destination is planned from digests, and
how many creates a run on disk holds."""


@pytest.fixture(params=list(WAYS))
def planning(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> str:
    """The test's run planned in each way (WAYS)."""
    lean_above, run_size = WAYS[request.param]
    monkeypatch.setattr(lean, "LEAN_ABOVE", lean_above)
    monkeypatch.setattr(spill, "RUN_SIZE", run_size)
    return str(request.param)


async def test_both_plannings_make_the_same_changes(
    planning: str, files: Files, session: Session, services: RunServices
) -> None:
    rows = files.write(count=60)
    await apply_files(session, files)
    async with services():
        _, first = await follow_run(session, JOB_ID, None)
        assert isinstance(first, RunFinished) and first.stats.created == 60
        assert len(table(files.db)) == 60
        rows[7]["department"] = "Elsewhere"
        gone = rows.pop(20)
        rows.append({**rows[0], "employee_id": "E-new"})
        write_csv(files.csv, rows)
        _, end = await follow_run(session, JOB_ID, None)
    assert isinstance(end, RunFinished)
    assert (end.stats.updated, end.stats.deleted, end.stats.unchanged) == (1, 1, 58)
    assert end.stats.created == 1
    stored = table(files.db)
    assert gone["employee_id"] not in stored
    assert stored[rows[7]["employee_id"]]["department"] == "Elsewhere"
    assert "E-new" in stored


async def test_a_source_of_two_exports_joined_fails_naming_the_line_and_deletes_nothing(
    planning: str, files: Files, session: Session, services: RunServices
) -> None:
    """The header again in the middle of the source: the run fails naming its line, in
    every way of planning; nothing is written, and no "employee_id" object appears."""
    files.write(count=20)
    await apply_files(session, files)
    async with services():
        _, first = await follow_run(session, JOB_ID, None)
        assert isinstance(first, RunFinished) and first.stats.created == 20
        before = table(files.db)
        text = files.csv.read_text(encoding="utf-8")
        head, *lines = text.splitlines(keepends=True)
        files.csv.write_text(head + "".join(lines[:10]) + head, encoding="utf-8")
        _, end = await follow_run(session, JOB_ID, None)
    assert isinstance(end, RunFailed), end
    assert f"{files.csv.name}:12: the header row again" in end.reason
    assert table(files.db) == before


async def test_an_object_whose_key_the_source_holds_in_another_case_is_never_deleted(
    planning: str, files: Files, session: Session, services: RunServices
) -> None:
    """A key whose case changes in the source ("E000004" now "e000004"): the job compares
    keys with case, so "e000004" is created, and "E000004" — which a destination comparing
    without case would hold as "e000004" — is left alone rather than deleted, in every
    way of planning."""
    rows = files.write(count=20)
    await apply_files(session, files)
    async with services():
        _, first = await follow_run(session, JOB_ID, None)
        assert isinstance(first, RunFinished) and first.stats.created == 20
        was = rows[4]["employee_id"]
        rows[4]["employee_id"] = was.lower()
        gone = rows.pop(9)
        write_csv(files.csv, rows)
        _, end = await follow_run(session, JOB_ID, None)
    assert isinstance(end, RunFinished)
    assert (end.stats.created, end.stats.deleted) == (1, 1), end.stats
    assert (end.stats.unchanged, end.stats.skipped) == (18, 1), end.stats
    stored = table(files.db)
    assert was in stored and was.lower() in stored
    assert gone["employee_id"] not in stored


async def test_a_plan_on_disk_waits_for_approval_and_applies_as_approved(
    files: Files, session: Session, services: RunServices, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Creates on disk and deletes over the safety limit: the run waits with the plan's
    counts and hash, writes nothing, and applies that very plan once approved."""
    monkeypatch.setattr(lean, "LEAN_ABOVE", 0)
    monkeypatch.setattr(spill, "RUN_SIZE", 5)
    rows = files.write(count=40, extra="safety = { max_percent = 5 }")
    await apply_files(session, files)
    async with services():
        _, first = await follow_run(session, JOB_ID, None)
        assert isinstance(first, RunFinished) and first.stats.created == 40
        joining = [{**rows[0], "employee_id": f"E-new-{n:02d}"} for n in range(30)]
        write_csv(files.csv, rows[5:] + joining)  # 5 gone: over 5% of 40
        run_id, waiting = await follow_run(session, JOB_ID, None)
        assert isinstance(waiting, RunAwaitingApproval), waiting
        assert waiting.counts is not None
        assert (waiting.counts.create, waiting.counts.delete) == (30, 5)
        assert len(table(files.db)) == 40, "nothing written while waiting"
        await session.decide("approve", run_id)
        end = await wait_for_event(session, lambda e: is_end(e) and e.run_id == run_id)
    assert isinstance(end, RunFinished), end
    assert end.plan_hash == waiting.plan_hash, "the plan approved is the plan applied"
    assert (end.stats.created, end.stats.deleted) == (30, 5)
    stored = table(files.db)
    assert len(stored) == 65 and "E-new-29" in stored and rows[0]["employee_id"] not in stored
