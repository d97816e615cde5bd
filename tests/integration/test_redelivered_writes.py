"""A batch delivered again after its runner wrote it and died before recording it: the
destination changes nothing twice and the run counts each record as the first delivery
applied it — an update that gave its object another spelling of its key too."""

from __future__ import annotations

import asyncio
import signal
import sqlite3

from schemas.events import RunFinished, is_end
from services.cli.client import Session
from services.common.people import write_csv
from services.common.settings import Settings

from .conftest import JOB_ID, Files, RunServices, apply_files, job_toml
from .journal import wait_for_event
from .processes import runner_process


def keys_in(files: Files) -> dict[str, str]:
    with sqlite3.connect(files.db) as db:
        return dict(db.execute("SELECT employee_id, department FROM people").fetchall())


async def test_an_update_respelling_its_key_delivered_again_counts_once_as_updated(
    files: Files, session: Session, services: RunServices, settings: Settings
) -> None:
    people = files.write(count=20)
    for person in people:
        person["employee_id"] = person["employee_id"].lower()
    write_csv(files.csv, people)
    files.job.write_text(
        job_toml().replace(
            'keys = ["employee_id"]', 'keys = ["employee_id"]\ncase_insensitive = true'
        )
    )
    await apply_files(session, files)
    async with services("workflow"):
        with runner_process(settings, "first"):
            run_id = await session.request_run(JOB_ID)
            first = await wait_for_event(session, lambda e: is_end(e) and e.run_id == run_id, 60)
        assert isinstance(first, RunFinished) and first.stats.created == 20, first
        # The source now spells every key in capitals, and a department changed: an
        # update per record, each giving its row the key as the source spells it.
        for person in people:
            person["employee_id"] = person["employee_id"].upper()
            person["department"] = "Moved"
        write_csv(files.csv, people)
        with runner_process(settings, "doomed", IDSYNC_FAILPOINTS="after-write:1") as doomed:
            run_id = await session.request_run(JOB_ID)
            assert await asyncio.to_thread(doomed.wait, 60) == -signal.SIGKILL
        with runner_process(settings, "survivor"):
            end = await wait_for_event(session, lambda e: is_end(e) and e.run_id == run_id, 120)
    assert isinstance(end, RunFinished), end
    assert (end.stats.updated, end.stats.failed) == (20, 0), end.stats
    assert not end.with_errors
    assert keys_in(files) == {p["employee_id"]: "Moved" for p in people}
