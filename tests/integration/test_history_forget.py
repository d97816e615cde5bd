"""A job deleted with its history (`idsync job delete --forget-history`): the recorder
forgets its runs — their rows of every history table, `idsync history KEY` and the runs
it lists no longer show them — and keeps every other job's; the job made again under its
id is recorded afresh; a recorder replaying the journal from its start makes the same
tables."""

from __future__ import annotations

import asyncio
import sqlite3
import time
from pathlib import Path

import msgspec
import pytest

from core.errors import NotFound
from core.runs import RunStory
from schemas.events import Event, JobHistoryForgotten, RunFailed, RunFinished, RunRequested
from schemas.history import HistoryQuery
from schemas.logs import LogBatch, LogLine, encode
from schemas.subjects import log_subject
from services.cli.client import Session
from services.cli.watch import follow_run
from services.common.definitions import load_job
from services.common.history_client import ask
from services.common.jetstream import (
    JOURNAL,
    LOGS,
    RECORDER,
    RECORDER_JOBS,
    ensure_infrastructure,
)
from services.common.settings import Settings
from services.recorder.database import Database, open_history, path_in
from services.recorder.project import Recorder

from .conftest import JOB_ID, Files, RunServices, apply_files
from .history import changes_of, recorded, tables, three_runs
from .secured import Running, apply_as, person
from .test_cli import idsync
from .test_cli_secured import idsync as as_person

OTHER = "hr-kept"
TABLES = ("events", "runs", "record_errors", "batches", "changes")


async def listed(session: Session, job_id: str) -> list[str]:
    """The runs of the job the recorder lists (the portal's list of runs)."""
    reply = await ask(session, HistoryQuery(what="runs", job_id=job_id))
    return [msgspec.json.decode(s, type=RunStory).run_id for s in reply.stories]


def rows_of_job(settings: Settings, job_id: str) -> dict[str, int]:
    """How many rows each history table holds about the job's runs."""
    with sqlite3.connect(path_in(settings.home)) as db:
        found = {
            table: db.execute(
                f"SELECT COUNT(*) FROM {table} WHERE job_id = ? AND run_id <> ''", (job_id,)
            ).fetchone()[0]
            for table in ("events", "runs", "changes", "log_lines")
        }
        for table in ("record_errors", "batches"):
            found[table] = db.execute(
                f"SELECT COUNT(*) FROM {table} WHERE run_id IN "
                "(SELECT run_id FROM runs WHERE job_id = ?)",
                (job_id,),
            ).fetchone()[0]
    return found


async def caught_up(session: Session, timeout: float = 60.0) -> None:
    """Until the recorder's consumers of the journal have nothing left to record."""
    deadline = time.monotonic() + timeout
    while True:
        infos = [await session.js.consumer_info(JOURNAL, c.name) for c in (RECORDER, RECORDER_JOBS)]
        if all(i.num_pending == 0 and i.num_ack_pending == 0 for i in infos):
            return
        assert time.monotonic() < deadline, "the recorder did not catch up with the journal"
        await asyncio.sleep(0.2)


async def test_a_job_deleted_with_its_history_is_forgotten_by_the_recorder_and_replay_agrees(
    files: Files, session: Session, services: RunServices, settings: Settings
) -> None:
    rows = files.write(40, batch_size=7)
    await apply_files(session, files)
    kept_job = load_job(files.job)
    kept_job = msgspec.structs.replace(
        kept_job,
        id=OTHER,
        destination=msgspec.structs.replace(kept_job.destination, table="people_kept"),
    )
    await session.store.put_job(kept_job)
    key = rows[3]["employee_id"]
    async with services():
        runs = await three_runs(files, session, rows)
        kept, end = await follow_run(session, OTHER, None)
        assert isinstance(end, RunFinished) and end.stats.created == 40, end
        for run in [*runs, kept]:
            await recorded(session, run)
        run_job = {runs[0]: JOB_ID, kept: OTHER}
        assert len(await changes_of(session, runs[0])) == 40 * 6
        for run in [runs[0], kept]:  # a line a runner elsewhere logged about each run
            line = LogLine(at="2026-01-01T00:00:00Z", level="warning", event="slow")
            batch = LogBatch(job_id=run_job[run], run_id=run, source="b", number=1, lines=[line])
            await session.js.publish(log_subject(batch.job_id, run), encode(batch), stream=LOGS)
        deadline = time.monotonic() + 60
        while rows_of_job(settings, JOB_ID)["log_lines"] == 0:
            assert time.monotonic() < deadline, "the recorder kept no log line"
            await asyncio.sleep(0.2)
        before = await idsync(settings, "history", key)
        assert before.returncode == 0 and runs[0] in before.stdout and kept in before.stdout

        deleted = await idsync(settings, "job", "delete", JOB_ID, "--forget-history")
        assert deleted.returncode == 0, deleted.stderr
        assert "history of 3 runs" in deleted.stdout
        deadline = time.monotonic() + 60
        while await listed(session, JOB_ID):
            assert time.monotonic() < deadline, "the recorder still lists the job's runs"
            await asyncio.sleep(0.2)
        await caught_up(session)
        assert set(rows_of_job(settings, JOB_ID).values()) == {0}, rows_of_job(settings, JOB_ID)
        assert rows_of_job(settings, OTHER)["log_lines"] == 1, "another job's lines are kept"
        after = await idsync(settings, "history", key)
        assert after.returncode == 0, after.stderr
        assert kept in after.stdout and not any(run in after.stdout for run in runs)
        assert await listed(session, OTHER) == [kept], "another job's history is kept"
        assert len(await changes_of(session, kept)) == 40 * 6
        listing = await idsync(settings, "run", "list", "--job", JOB_ID)
        assert not any(run in listing.stdout for run in runs)

        # Made again under its id, the job's new runs are history again.
        await apply_files(session, files)
        again, end = await follow_run(session, JOB_ID, None)
        assert isinstance(end, RunFinished), end
        await recorded(session, again)
        assert await listed(session, JOB_ID) == [again]
        await caught_up(session)

    live = tables(settings, TABLES)
    forgotten = [r for r in live["events"] if r[4] == "job.history-forgotten"]
    assert len(forgotten) == 1 and forgotten[0][3] == JOB_ID, "the forgetting is kept"
    # A recorder starting afresh (no database, its consumers new) replays the journal.
    path_in(settings.home).unlink()
    for extra in ("-wal", "-shm"):
        path_in(settings.home).with_name(path_in(settings.home).name + extra).unlink(True)
    for consumer in (RECORDER, RECORDER_JOBS):
        await session.js.delete_consumer(JOURNAL, consumer.name)
    await ensure_infrastructure(session.js, settings)
    async with services("recorder"):
        for run in (kept, again):
            await recorded(session, run)
        await caught_up(session)
    assert tables(settings, TABLES) == live


async def snapshot(db: Database) -> dict[str, list[tuple[object, ...]]]:
    """Every row of the history's tables, sorted."""
    return {t: sorted(tuple(r) for r in await db.fetchall(f"SELECT * FROM {t}")) for t in TABLES}


@pytest.mark.parametrize("where", ["sqlite", "postgresql"])
async def test_forgetting_delivered_again_or_late_changes_nothing_more(
    tmp_path: Path, request: pytest.FixtureRequest, where: str
) -> None:
    """The recorder's run events and its jobs' events are two consumers: a forgetting
    recorded before an older event of the job reaches it, or recorded twice, gives the
    tables of the journal's order, which are those of a replay of the journal as the
    purge left it (a run still going when its job was deleted told from its later
    events alone) — in SQLite and in PostgreSQL."""
    url = request.getfixturevalue("pg_database").dsn() if where == "postgresql" else None
    db = await open_history(tmp_path, url, None, write=True)
    try:
        old = RunRequested(run_id="r1", job_id=JOB_ID, requested_by="ada")
        other = RunRequested(run_id="r2", job_id=OTHER, requested_by="ada")
        going = RunRequested(run_id="r4", job_id=JOB_ID, requested_by="ada")
        forget = JobHistoryForgotten(run_id="", job_id=JOB_ID, by="ada", runs=2)
        newer = RunRequested(run_id="r3", job_id=JOB_ID, requested_by="ada")
        gone = RunFailed(run_id="r4", job_id=JOB_ID, reason="the job is gone")
        live: list[tuple[Event, int]] = [
            (old, 1),
            (other, 2),
            (going, 3),
            (forget, 4),
            (newer, 5),
            (gone, 6),
        ]
        recorder = Recorder(None, db)
        for event, seq in live:
            await recorder.record(event, seq)
        expected = await snapshot(db)
        assert [r[0] for r in expected["runs"]] == ["r2", "r3", "r4"]
        assert {r[2] for r in expected["events"]} == {"", "r2", "r3", "r4"}
        told = {r[0]: r[2] for r in expected["runs"]}
        assert told["r4"] == "failed", "r4 told from its events after the forgetting"

        again: list[tuple[Event, int]] = [(forget, 4), (old, 1), (newer, 5), (forget, 4)]
        for event, seq in again:  # delivered again, and late
            await recorder.record(event, seq)
        assert await snapshot(db) == expected
        fresh = Recorder(None, db)  # a recorder started again remembers the forgetting
        await fresh.record(going, 3)
        assert await snapshot(db) == expected

        # A replay from the journal's start: what the purge left of the journal, in order.
        async with db.transaction():
            for table in TABLES:
                await db.execute(f"DELETE FROM {table}")
        replaying = Recorder(None, db)
        for event, seq in live:
            if event.job_id != JOB_ID or seq > 3:
                await replaying.record(event, seq)
        assert await snapshot(db) == expected
    finally:
        await db.close()


async def test_under_users_a_job_deleted_with_its_history_is_forgotten_by_the_recorder(
    files: Files, secure: Settings, secured_services: Running
) -> None:
    """With users and permissions: the workflow says the job's history is forgotten and
    the recorder forgets it (secured_services fails on any refusal the server logs)."""
    files.write(count=5, owners=["alice"])
    async with secured_services(), person(secure, "alice") as alice:
        await apply_as(alice, files)
        run_id, end = await follow_run(alice, JOB_ID, None)
        assert isinstance(end, RunFinished) and end.stats.created == 5, end
        await recorded(alice, run_id)
        assert await listed(alice, JOB_ID) == [run_id]
        deleted = await as_person(secure, "alice", "job", "delete", JOB_ID, "--forget-history")
        assert deleted.returncode == 0 and "history of 1 runs" in deleted.stdout, deleted.stderr
        deadline = time.monotonic() + 60
        while await listed(alice, JOB_ID):
            assert time.monotonic() < deadline, "the recorder still lists the job's runs"
            await asyncio.sleep(0.2)
        with pytest.raises(NotFound):
            await ask(alice, HistoryQuery(what="run", run_id=run_id))
