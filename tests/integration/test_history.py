"""History through every service: the recorder's rows are the runs' plans, a replay from
the journal's start gives the same tables, `idsync history KEY` tells an object's story."""

from __future__ import annotations

import asyncio
import csv
import io
import json
import signal
import sqlite3

import openpyxl
import pytest

from core.engine.report import COLUMNS
from core.engine.report import rows as report_rows
from schemas.events import RunFinished
from schemas.work import Creates, decode_batch, decode_columns, decode_plan
from services.cli.client import Session
from services.cli.watch import follow_run
from services.common.jetstream import JOURNAL, PLANS_BUCKET, RECORDER, ensure_infrastructure
from services.common.settings import Settings
from services.common.stored_plans import batch_name
from services.recorder.database import path_in
from services.runner import plans
from services.runner.planning import low_memory, spill

from .conftest import JOB_ID, Files, RunServices, apply_files
from .history import changes_of, recorded, tables, three_runs
from .journal import events_of_run
from .processes import service_process
from .secured import APPROVAL, Running, person
from .test_cli import idsync
from .test_cli_secured import idsync as as_person


async def planned_rows(session: Session, run_id: str) -> list[tuple[str, ...]]:
    store = await session.js.object_store(PLANS_BUCKET)
    plan = decode_plan((await store.get(run_id)).data or b"")
    changes = [c for phase in plan.phases for batch in phase for c in batch]
    for number in range(1, sum(plan.batches) + 1):  # each batch kept apart
        found = await store.get(batch_name(run_id, number))
        changes += decode_batch(found.data or b"").changes
    return [(r.key, r.action, r.field, r.old_value, r.new_value) for r in report_rows(changes)]


async def sent_as_columns(session: Session, run_id: str) -> list[bool]:
    """Whether each stored batch of the run (as it went on the work queue) is columns."""
    store = await session.js.object_store(PLANS_BUCKET)
    plan = decode_plan((await store.get(run_id)).data or b"")
    sent = []
    for number in range(1, sum(plan.batches) + 1):
        found = await store.get(batch_name(run_id, number))
        sent.append(isinstance(decode_columns(found.data or b"").changes, Creates))
    return sent


@pytest.mark.parametrize("run_size", [50_000, 7], ids=["in-memory-run", "runs-on-disk"])
async def test_a_first_run_sent_as_columns_is_recorded_and_reviewed_as_one_sent_as_changes(
    files: Files,
    session: Session,
    services: RunServices,
    settings: Settings,
    monkeypatch: pytest.MonkeyPatch,
    run_size: int,
) -> None:
    """A first run planned with its creates on disk sends its batches as columns (made of
    the values planned, or of the creates read back from disk); the same first run with
    its batches sent as lists of changes, as before columns, is recorded and reviewed the
    same: the recorder's rows and the run's review export, field by field, and the plan's
    hash."""
    monkeypatch.setattr(spill, "RUN_SIZE", run_size)
    monkeypatch.setattr(low_memory, "LEAN_ABOVE", -1)  # planned with its creates on disk
    files.write(30, batch_size=7)
    await apply_files(session, files)
    runs: list[str] = []
    hashes: list[str] = []
    async with services():
        for columns in (True, False):
            if not columns:
                monkeypatch.setattr(plans, "as_columns", lambda entries, values=None: None)
            for suffix in ("", "-wal", "-shm"):  # a first run each time
                files.db.with_name(files.db.name + suffix).unlink(missing_ok=True)
            run_id, end = await follow_run(session, JOB_ID, None)
            assert isinstance(end, RunFinished) and end.stats.created == 30, end
            runs.append(run_id)
            hashes.append(end.plan_hash)
            await recorded(session, run_id)
        assert await sent_as_columns(session, runs[0]) == [True] * 5
        assert await sent_as_columns(session, runs[1]) == [False] * 5
        found = [
            [
                (r.key, r.action, r.field, r.old, r.new, r.outcome)
                for r in await changes_of(session, run)
            ]
            for run in runs
        ]
        assert len(found[0]) == 30 * 6 and found[0] == found[1]
        exported = []
        for run in runs:
            review = await idsync(settings, "run", "review", run, "--export", "csv")
            assert review.returncode == 0, review.stderr
            exported.append(
                [
                    {k: v for k, v in r.items() if k not in ("at", "run_id")}
                    for r in csv.DictReader(io.StringIO(review.stdout))
                ]
            )
        assert len(exported[0]) == 30 * 6 and exported[0] == exported[1]
    assert hashes[0] == hashes[1], "the plan is the same, however its batches travel"


async def test_three_runs_are_recorded_field_by_field_and_replay_gives_the_same_tables(
    files: Files, session: Session, services: RunServices, settings: Settings
) -> None:
    rows = files.write(40, batch_size=7)
    await apply_files(session, files)
    moved, leaving = rows[3], rows[10]
    async with services():
        runs = await three_runs(files, session, rows)
        stories = [await recorded(session, run) for run in runs]
        for run in runs[:2]:
            found = await changes_of(session, run)
            assert [(r.key, r.action, r.field, r.old, r.new) for r in found] == await planned_rows(
                session, run
            )
            assert {r.outcome for r in found} == {"applied"}
        assert len(await changes_of(session, runs[0])) == 40 * 6
        assert await changes_of(session, runs[2]) == []
        assert [s.state for s in stories] == ["finished"] * 3
        assert stories[0].stats.created == 40 and stories[0].requested_by == "tester"

        key = moved["employee_id"]
        shown = await idsync(settings, "history", key)
        assert shown.returncode == 0, shown.stderr
        lines = shown.stdout.splitlines()
        assert runs[1] in lines[1] and "department" in lines[1], "newest first"
        assert f"{moved['department']}" in lines[1]
        assert all(runs[0] in line for line in lines[2:]) and len(lines) == 1 + 1 + 6
        why = await idsync(settings, "history", "why", JOB_ID, key, "given_name")
        assert why.returncode == 0, why.stderr
        assert runs[0] in why.stdout and "from source field first_name" in why.stdout
        review = await idsync(settings, "run", "review", runs[1], "--export", "csv")
        assert review.returncode == 0, review.stderr
        exported = list(csv.DictReader(io.StringIO(review.stdout)))
        assert {(r["key"], r["action"]) for r in exported} >= {
            (key, "update"),
            (leaving["employee_id"], "delete"),
            ("E000900", "create"),
        }
        workbook = settings.home / "review.xlsx"
        written = await idsync(settings, "run", "review", runs[1], "--export", str(workbook))
        assert written.returncode == 0 and str(workbook) in written.stdout, written.stderr
        sheets = openpyxl.load_workbook(workbook, read_only=True)
        header, *cells = list(sheets["changes"].iter_rows(values_only=True))
        assert header[:7] == COLUMNS and header[7:9] == ("outcome", "error")
        assert [(r[1], r[2], r[4] or "", r[5] or "", r[6] or "", r[7]) for r in cells] == [
            (r["key"], r["action"], r["field"], r["old"], r["new"], r["outcome"]) for r in exported
        ]
        summary = {r[0]: r[1] for r in sheets["summary"].iter_rows(values_only=True)}
        assert summary["run"] == runs[1] and summary["state"] == "finished"
        assert summary["change rows"] == len(exported)
        assert summary["fields written"] == sum(1 for r in exported if r["field"])
        text = await idsync(settings, "run", "review", runs[1])
        assert "statistics" in text.stdout or "created" in text.stdout
        assert "run.finished" in text.stdout and "events: " in text.stdout

    live = tables(settings)
    # A recorder starting afresh (no database, its consumer new) replays the journal.
    path_in(settings.home).unlink()
    for extra in ("-wal", "-shm"):
        path_in(settings.home).with_name(path_in(settings.home).name + extra).unlink(True)
    await session.js.delete_consumer(JOURNAL, RECORDER.name)
    await ensure_infrastructure(session.js, settings)
    async with services("recorder"):
        for run in runs:
            await recorded(session, run)
    assert tables(settings) == live


async def test_a_password_is_never_kept_only_that_it_was_set(
    files: Files, session: Session, services: RunServices, settings: Settings
) -> None:
    files.write(12)
    files.job.write_text(
        files.job.read_text().replace(
            '  { to = "groups", delimiter = "|" },',
            '  { to = "groups", delimiter = "|" },\n'
            '  { to = "initial_password", transform = { password = 16 } },\n'
            '  { to = "userPassword", create_only = true,'
            ' transform = { format = "pw-{employee_id}-{title}" } },',
        )
    )
    await apply_files(session, files)
    async with services():
        run_id, end = await follow_run(session, JOB_ID, None)
        assert isinstance(end, RunFinished) and end.stats.created == 12
        await recorded(session, run_id)
        found = await changes_of(session, run_id)
    with sqlite3.connect(files.db) as db:
        secrets = [
            v
            for row in db.execute('SELECT initial_password, "userPassword" FROM people')
            for v in row
        ]
    assert len(secrets) == 24 and all(secrets)
    home = path_in(settings.home).parent
    kept = b"".join(p.read_bytes() for p in home.glob("history.sqlite*"))
    for secret in secrets:
        assert secret.encode() not in kept, "a password in the history database"
    shown = {(r.key, r.field): r for r in found}
    for key in {r.key for r in found}:
        assert shown[(key, "initial_password")].new == "(set)"
        assert shown[(key, "initial_password")].secret
        assert shown[(key, "userPassword")].new == "(set)"
    assert shown[("E000001", "surname")].new, "other fields keep their values"


def recorded_events(settings: Settings) -> int:
    try:
        with sqlite3.connect(path_in(settings.home), timeout=5) as db:
            return int(db.execute("SELECT count(*) FROM events").fetchone()[0])
    except sqlite3.OperationalError:  # not made yet
        return 0


async def test_a_recorder_killed_mid_run_and_restarted_loses_and_doubles_nothing(
    files: Files, session: Session, services: RunServices, settings: Settings
) -> None:
    files.write(300, batch_size=3)
    await apply_files(session, files)
    async with services("scheduler", "workflow", "runner", "notifier"):
        with service_process(settings, "recorder") as recorder:
            request = asyncio.create_task(follow_run(session, JOB_ID, None))
            while recorded_events(settings) < 20:
                assert recorder.poll() is None, "the recorder stopped by itself"
                await asyncio.sleep(0.01)
            recorder.send_signal(signal.SIGKILL)
            recorder.wait(timeout=20)
            run_id, end = await request
            assert isinstance(end, RunFinished) and end.stats.created == 300
            journal = await events_of_run(session, run_id)
            assert recorded_events(settings) < len(journal), "killed before the run's end"
        with service_process(settings, "recorder"):
            story = await recorded(session, run_id)
            found = await changes_of(session, run_id)
    assert story.state == "finished" and story.stats.created == 300
    assert len(story.events) == len(journal)
    assert recorded_events(settings) == len(journal)
    assert [(r.key, r.action, r.field, r.old, r.new) for r in found] == await planned_rows(
        session, run_id
    )


async def test_with_users_anyone_reviews_a_run_and_sees_who_asked_and_who_approved(
    files: Files, secure: Settings, secured_services: Running
) -> None:
    files.write(count=6, extra=APPROVAL, owners=["alice"])
    async with secured_services():
        for what, path in (("connection", files.connections), ("job", files.job)):
            applied = await as_person(secure, "alice", what, "apply", str(path))
            assert applied.returncode == 0, applied.stderr
        asked = await as_person(secure, "alice", "job", "run", JOB_ID)
        run_id = asked.stdout.strip()
        approved = await as_person(secure, "bob", "run", "approve", run_id)
        assert approved.returncode == 0, approved.stderr
        async with person(secure, "dave") as session:
            story = await recorded(session, run_id)
        review = await as_person(secure, "dave", "run", "review", run_id, "--json")
    assert review.returncode == 0, review.stderr
    found = json.loads(review.stdout)
    assert story.requested_by == "alice" and "bob" in found["run"]["approvals"]
    assert len(found["changes"]) == 6 * 6 and found["errors"] == []
    assert [e["type"] for e in found["events"]][:2] == ["run.requested", "run.awaiting-approval"]
