"""Large destinations are planned from per-key digests (runner/planning/low_memory.py): the same
changes as the ordinary planning, whatever the size that switches it on."""

from __future__ import annotations

import pytest

from schemas.events import RunFinished
from services.cli.client import Session
from services.cli.watch import follow_run
from services.common.people import write_csv
from services.runner.planning import low_memory as lean

from .conftest import JOB_ID, Files, RunServices, apply_files
from .test_flow import table


@pytest.mark.parametrize("lean_above", [0, 10**9], ids=["digests", "records"])
async def test_both_plannings_make_the_same_changes(
    lean_above: int,
    files: Files,
    session: Session,
    services: RunServices,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(lean, "LEAN_ABOVE", lean_above)
    rows = files.write(count=60)
    await apply_files(session, files)
    async with services():
        await follow_run(session, JOB_ID, None)
        rows[7]["department"] = "Elsewhere"
        gone = rows.pop(20)
        write_csv(files.csv, rows)
        _, end = await follow_run(session, JOB_ID, None)
    assert isinstance(end, RunFinished)
    assert (end.stats.updated, end.stats.deleted, end.stats.unchanged) == (1, 1, 58)
    stored = table(files.db)
    assert gone["employee_id"] not in stored
    assert stored[rows[7]["employee_id"]]["department"] == "Elsewhere"
