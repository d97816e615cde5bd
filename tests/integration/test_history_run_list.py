"""The recorder lists runs (`runs` history query) over the real server, as the people
asking may see them: everyone's runs with history.view-all, one's own jobs' with
history.view-own (naming the job), nothing without either once roles are in force."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

import msgspec

from core.runs import RunStory
from schemas.events import is_end
from schemas.history import HistoryQuery, HistoryReply
from services.common.definitions import load_connections
from services.common.history_client import recorded_runs
from services.common.settings import Settings
from services.recorder.answers import answer
from services.recorder.database import open_database, open_history
from tests.postgresql_server import Server
from tests.unit.test_history_run_list import QUERIES, record_runs

from .conftest import JOB_ID, Files
from .journal import wait_for_event
from .secured import Running, person
from .test_roles_secured import ask, history_answer, job_of, setup_roles
from .test_roles_secured import home as home  # the people with their roles

OTHER = "hr-other"


def run_ids(reply: HistoryReply) -> list[str]:
    return [msgspec.json.decode(s, type=RunStory).run_id for s in reply.stories]


async def run_once(settings: Settings, who: str, job_id: str) -> str:
    async with person(settings, who) as session:
        run_id = await session.request_run(job_id)
        await wait_for_event(session, lambda e: e.run_id == run_id and is_end(e))
    return run_id


async def test_runs_are_listed_by_the_recorder_to_who_may_see_them(
    files: Files, secure: Settings, secured_services: Running
) -> None:
    files.write(count=3, owners=["alice"])
    async with secured_services():
        await setup_roles(secure)
        connections = msgspec.json.encode(load_connections(files.connections))
        assert await ask(secure, "alice", "connection-apply", connections) == "2 applied"
        assert await ask(secure, "dave", "job-apply", job_of(files, "dave")) == "applied"
        assert await ask(secure, "alice", "job-apply", job_of(files, "alice", OTHER)) == "applied"
        first = await run_once(secure, "dave", JOB_ID)
        second = await run_once(secure, "alice", OTHER)
        third = await run_once(secure, "dave", JOB_ID)
        every = HistoryQuery(what="runs")
        deadline = time.monotonic() + 60
        while True:  # the recorder follows the journal: it has the runs shortly
            found = await history_answer(secure, "alice", every)
            if found.ok and len(found.stories) == 3:
                stories = [msgspec.json.decode(s, type=RunStory) for s in found.stories]
                if all(s.ended_at is not None for s in stories):
                    break
            assert time.monotonic() < deadline, f"the recorder has not the three runs: {found}"
            await asyncio.sleep(0.1)
        answers = {
            (who, job, latest): await history_answer(
                secure, who, HistoryQuery(what="runs", job_id=job, latest=latest)
            )
            for who in ("alice", "dave", "aud", "nora")
            for job in ("", JOB_ID, OTHER)
            for latest in (False, True)
        }
        state = stories[0].state
        in_state = await history_answer(secure, "alice", HistoryQuery(what="runs", state=state))
        paged = await history_answer(secure, "aud", HistoryQuery(what="runs", limit=2))
        async with person(secure, "dave") as session:
            by_client = await recorded_runs(session, job_id=JOB_ID, limit=1)
    newest_first = [third, second, first]
    assert [s.run_id for s in stories] == newest_first
    for who in ("alice", "aud"):  # administrator, auditor: every job's runs
        assert run_ids(answers[who, "", False]) == newest_first
        assert run_ids(answers[who, JOB_ID, False]) == [third, first]
        assert run_ids(answers[who, OTHER, False]) == [second]
        assert run_ids(answers[who, "", True]) == [third, second]
        assert run_ids(answers[who, JOB_ID, True]) == [third]
    # dave sees his own job's runs, naming it; not another's, nor all.
    assert run_ids(answers["dave", JOB_ID, False]) == [third, first]
    assert run_ids(answers["dave", JOB_ID, True]) == [third]
    for job in ("", OTHER):
        for latest in (False, True):
            refused = answers["dave", job, latest]
            assert not refused.ok and not refused.stories, (job, latest)
    assert "name one of them (--job JOB)" in answers["dave", "", False].error
    assert "may not see" in answers["dave", OTHER, False].error
    for key, reply in answers.items():
        if key[0] == "nora":  # no role: no history at all
            assert not reply.ok and not reply.stories and "nora may not see" in reply.error
    assert run_ids(in_state) == [s.run_id for s in stories if s.state == state], (
        "the state filter keeps the runs in that state"
    )
    assert run_ids(paged) == [third, second] and paged.next_offset == 2
    assert [s.run_id for s in by_client] == [third]


async def test_postgresql_lists_the_runs_as_sqlite_does(
    pg_database: Server, tmp_path: Path
) -> None:
    found: dict[str, list[bytes]] = {}
    for name, opening in (
        ("sqlite", open_database(tmp_path / "history.sqlite", write=True)),
        ("postgresql", open_history(tmp_path, pg_database.dsn(), None, write=True)),
    ):
        db = await opening
        try:
            await record_runs(db)
            found[name] = [msgspec.json.encode(await answer(db, query)) for query in QUERIES]
        finally:
            await db.close()
    assert found["postgresql"] == found["sqlite"]
    assert all(b'"stories":[' in reply for reply in found["sqlite"][:2])
