"""A run's log lines in its history: a line a runner on another machine logs about the
run is shown by `idsync run review`, and no password is ever among them."""

from __future__ import annotations

import asyncio
import json
import sqlite3
import time

from schemas.events import RunFinished
from services.cli.client import Session
from services.cli.watch import follow_run
from services.common.settings import Settings
from services.recorder.database import path_in

from .conftest import JOB_ID, Files, RunServices, apply_files
from .history import recorded
from .processes import runner_process
from .test_cli import idsync

PASSWORDS = (
    '  { to = "groups", delimiter = "|" },',
    '  { to = "groups", delimiter = "|" },\n'
    '  { to = "initial_password", transform = { password = 16 } },\n'
    '  { to = "userPassword", create_only = true,'
    ' transform = { format = "pw-{employee_id}-{title}" } },',
)
NOT_MAILED = "passwords not mailed: no notifier has published its key yet"


def stored_lines(settings: Settings) -> list[tuple[str, ...]]:
    with sqlite3.connect(path_in(settings.home), timeout=5) as db:
        return list(db.execute("SELECT * FROM log_lines").fetchall())


async def test_a_runners_warning_is_in_run_review_and_no_password_in_any_line(
    files: Files, session: Session, services: RunServices, settings: Settings
) -> None:
    files.write(
        12, extra='notify = [{ recipients = ["helpdesk@example.org"], trigger = "password" }]'
    )
    files.job.write_text(files.job.read_text().replace(*PASSWORDS))
    await apply_files(session, files)
    # No notifier: the runner, another process, warns that generated passwords go unmailed.
    async with services("scheduler", "workflow", "recorder"):
        with runner_process(settings, "machine-b"):
            run_id, end = await follow_run(session, JOB_ID, None)
            assert isinstance(end, RunFinished) and end.stats.created == 12
            await recorded(session, run_id)
            deadline = time.monotonic() + 60
            while (
                NOT_MAILED not in (shown := await idsync(settings, "run", "review", run_id)).stdout
            ):
                assert time.monotonic() < deadline, shown.stdout + shown.stderr
                await asyncio.sleep(0.2)
        assert shown.returncode == 0, shown.stderr
        section = shown.stdout.split("log lines: ", 1)[1]
        warned = next(line for line in section.splitlines() if NOT_MAILED in line)
        assert "warning" in warned and "runner@machine-b" in warned
        as_json = await idsync(settings, "run", "review", run_id, "--json")
    found = json.loads(as_json.stdout)
    assert any(
        line["event"] == NOT_MAILED and line["runner"] == "machine-b" for line in found["logs"]
    )
    with sqlite3.connect(files.db) as db:
        secrets = [
            v
            for row in db.execute('SELECT initial_password, "userPassword" FROM people')
            for v in row
        ]
    assert len(secrets) == 24 and all(secrets)
    lines = stored_lines(settings)
    assert lines, "the run's lines are kept"
    kept = repr(lines)
    for secret in secrets:
        assert secret not in kept, "a password in a log line"
