"""A run asked for some keys alone says so wherever it is told — `idsync run show`, `run
review` and its export, the mail — for it leaves alone the objects absent from the
source that a whole run would delete: "0 deleted" is not "nobody left"."""

from __future__ import annotations

import json

from schemas.events import RunFinished
from services.cli.client import Session
from services.cli.watch import follow_run
from services.common.people import write_csv
from services.common.settings import Settings

from .conftest import JOB_ID, Files, RunServices, apply_files
from .history import recorded
from .test_cli import idsync
from .test_flow import table


async def test_a_run_for_some_keys_says_it_was_scoped_to_them(
    files: Files, session: Session, services: RunServices, settings: Settings
) -> None:
    rows = files.write(count=6)
    await apply_files(session, files)
    async with services("workflow", "runner", "recorder"):
        _, end = await follow_run(session, JOB_ID, None)
        assert isinstance(end, RunFinished) and end.stats.created == 6
        gone, key = rows[0], rows[3]["employee_id"]
        write_csv(files.csv, [{**r, "department": "Moved"} for r in rows if r is not gone])
        run_id, end = await follow_run(session, JOB_ID, [key])
        assert isinstance(end, RunFinished) and (end.stats.updated, end.stats.deleted) == (1, 0)
        await recorded(session, run_id)
        shown = await idsync(settings, "run", "show", run_id)
        reviewed = await idsync(settings, "run", "review", run_id)
        summary = await idsync(settings, "run", "review", run_id, "--json")
    said = f"scoped to 1 key ({key}): absent objects left alone"
    assert said in shown.stdout, shown.stdout
    assert said in reviewed.stdout, reviewed.stdout
    assert json.loads(summary.stdout)["run"]["keys"] == [key]
    assert gone["employee_id"] in table(files.db), "left alone"
