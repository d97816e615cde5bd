"""Job versions in the history: `idsync history why` answers with the job's definition
the run that wrote a value was planned with, not the job as it is now."""

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

LAW = '  { to = "department", transform = { map = { Legal = "Law" }, keep_unmapped = true } },\n'
FROM_TITLE = '  { to = "department", from = "title" },\n'


def with_department(files: Files, line: str) -> None:
    text = files.job.read_text()
    start = text.index('  { to = "department"')
    end = text.index("\n", start) + 1
    files.job.write_text(text[:start] + line + text[end:])


async def why(settings: Settings, key: str, field: str) -> dict[str, object]:
    shown = await idsync(settings, "history", "why", JOB_ID, key, field, "--json")
    assert shown.returncode == 0, shown.stderr
    found: dict[str, object] = json.loads(shown.stdout)
    return found


async def test_why_names_the_job_version_each_run_was_planned_with(
    files: Files, session: Session, services: RunServices, settings: Settings
) -> None:
    rows = files.write(12)
    await apply_files(session, files)  # version 1: department as it is
    stays, legal, moves = "E000001", "E000005", "E000009"  # Support, Legal, Research
    runs = []
    async with services():
        run_id, end = await follow_run(session, JOB_ID, None)
        assert isinstance(end, RunFinished) and end.stats.created == 12
        runs.append(run_id)

        with_department(files, LAW)  # version 2: Legal becomes Law
        await apply_files(session, files)
        run_id, end = await follow_run(session, JOB_ID, None)
        assert isinstance(end, RunFinished) and end.stats.updated == 4  # the four in Legal
        runs.append(run_id)

        moved = [dict(r, department="Legal") if r["employee_id"] == moves else r for r in rows]
        write_csv(files.csv, moved)
        await apply_files(session, files)  # applied again unchanged: no new version
        run_id, end = await follow_run(session, JOB_ID, None)
        assert isinstance(end, RunFinished) and end.stats.updated == 1
        runs.append(run_id)

        with_department(files, FROM_TITLE)  # version 3: never run
        await apply_files(session, files)
        for run in runs:
            await recorded(session, run)

        moved_why = await why(settings, moves, "department")
        legal_why = await why(settings, legal, "department")
        stays_why = await why(settings, stays, "department")
        text = await idsync(settings, "history", "why", JOB_ID, moves, "department")
        listed = await idsync(settings, "history", "versions", JOB_ID, "--json")

    assert moved_why["run_id"] == runs[2] and moved_why["new"] == "Law"
    assert moved_why["old"] == "Research"
    assert (moved_why["job_version"], moved_why["current_version"]) == (2, 3)
    assert moved_why["source_field"] == "department"
    assert moved_why["transform"] == {"map": {"Legal": "Law"}, "keep_unmapped": True}
    assert legal_why["run_id"] == runs[1] and legal_why["job_version"] == 2
    assert (legal_why["old"], legal_why["new"]) == ("Legal", "Law")
    assert stays_why["run_id"] == runs[0] and stays_why["job_version"] == 1
    assert stays_why["source_field"] == "department" and stays_why["transform"] is None

    assert text.returncode == 0, text.stderr
    assert "planned with job version 2" in text.stdout
    assert "the job is at version 3 now" in text.stdout
    assert "from source field department" in text.stdout and "title" not in text.stdout

    assert listed.returncode == 0, listed.stderr
    versions = json.loads(listed.stdout)
    assert [v["version"] for v in versions] == [3, 2, 1]
    department = versions[0]["job"]["objects"][0]["fields"][4]
    assert (department["to"], department["from"]) == ("department", "title")
    assert len({v["revision"] for v in versions}) == 3
    assert [v["applied_at"] for v in versions] == sorted(
        (v["applied_at"] for v in versions), reverse=True
    )


async def test_a_deleted_job_is_a_version_of_its_own(
    files: Files, session: Session, services: RunServices, settings: Settings
) -> None:
    files.write(3)
    await apply_files(session, files)
    async with services("recorder"):
        await session.store.delete_job(JOB_ID)
        listed = await idsync(settings, "history", "versions", JOB_ID, "--json")
    assert listed.returncode == 0, listed.stderr
    versions = json.loads(listed.stdout)
    assert [(v["version"], v.get("deleted", False)) for v in versions] == [(2, True), (1, False)]
    assert "job" not in versions[0]
