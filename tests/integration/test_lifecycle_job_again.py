"""A job deleted and made again under the same id (applied, imported, made from a
template) starts afresh, as its schedules do: the absences the deleted job recorded do
not make the new one's first run delete at once objects it never disabled."""

from __future__ import annotations

import json

from services.cli.client import Session
from services.common.people import write_csv
from services.common.watermarks import Memory

from .conftest import JOB_ID, Files, RunServices
from .test_lifecycle import apply, days_pass, directory, run


async def test_a_job_made_again_does_not_delete_by_the_deleted_jobs_absences(
    files: Files, session: Session, services: RunServices
) -> None:
    rows = files.write(count=10)
    stored = await apply(session, files)
    gone = rows[9]["employee_id"]
    async with services():
        assert (await run(session)).stats.created == 10
        write_csv(files.csv, rows[:9])
        assert (await run(session)).stats.disabled == 1
        await days_pass(session, gone, 60)

        # The job is deleted; another of the same id is made, over a directory where the
        # person is enabled again (as one made for another directory would find them).
        assert await session.delete_job(JOB_ID) == "deleted"
        held = json.loads(stored.read_text())
        held[""]["disabled"] = []
        stored.write_text(json.dumps(held))
        assert await Memory(session.js).absences(JOB_ID) == {}
        await apply(session, files)
        first = await run(session)
        assert (first.stats.disabled, first.stats.deleted) == (1, 0), first.stats
    assert directory(stored)["disabled"] == [gone]
