"""`idsync job diff JOB FILE` on a CSV → SQLite job: the field map's differences and the
plans' on today's data, and nothing written."""

from __future__ import annotations

import json

from schemas.events import RunAwaitingApproval, RunFinished
from services.cli.client import Session
from services.cli.watch import follow_run
from services.common.people import write_csv
from services.common.settings import Settings

from .conftest import JOB_ID, Files, RunServices, apply_files
from .test_cli import dump, idsync

LAW = '  { to = "department", transform = { map = { Legal = "Law" }, keep_unmapped = true } },\n'


async def test_diff_shows_the_field_map_and_the_plan_a_changed_job_would_make(
    files: Files, session: Session, services: RunServices, settings: Settings
) -> None:
    rows = files.write(12)
    await apply_files(session, files)
    async with services("workflow", "runner"):
        _, end = await follow_run(session, JOB_ID, None)
        assert isinstance(end, RunFinished) and end.stats.created == 12
    changed = files.folder / "changed.toml"
    text = files.job.read_text()
    text = text.replace('  { to = "department" },\n', LAW + '  { to = "title" },\n')
    changed.write_text(text.replace('  { to = "groups", delimiter = "|" },\n', ""))
    stored = await session.store.job(JOB_ID)
    table = dump(files.db)
    legal = sorted(r["employee_id"] for r in rows if r["department"] == "Legal")

    shown = await idsync(settings, "job", "diff", JOB_ID, str(changed), "--json")
    assert shown.returncode == 0, shown.stderr
    found = json.loads(shown.stdout)
    definition = {(d["what"], d["field"], d["setting"]) for d in found["definition"]}
    assert definition == {
        ("changed", "department", "transform"),
        ("added", "title", ""),
        ("removed", "groups", ""),
    }
    assert found["now"]["counts"]["unchanged"] == 12 and found["now"]["counts"]["update"] == 0
    assert found["with_file"]["counts"]["update"] == 12  # everyone gains a title
    assert found["now"]["plan_hash"] != found["with_file"]["plan_hash"]
    assert found["only_now"] == []
    only = [(r["key"], r["field"], r.get("new_value")) for r in found["only_with_file"]]
    assert sorted(k for k, f, _ in only if f == "department") == legal
    assert {v for _, f, v in only if f == "department"} == {"Law"}
    titles = {k: v for k, f, v in only if f == "title"}
    assert titles == {r["employee_id"]: r["title"] for r in rows}

    text_out = await idsync(settings, "job", "diff", JOB_ID, str(changed), "--limit", "3")
    assert text_out.returncode == 0, text_out.stderr
    assert "~ user department: transform: (none) → " in text_out.stdout
    assert "+ field user title" in text_out.stdout and "- field user groups" in text_out.stdout
    assert f"{12 + len(legal)} field rows (0 only as it stands" in text_out.stdout
    assert f"… {12 + len(legal) - 3} more" in text_out.stdout

    assert await session.store.job(JOB_ID) == stored, "the job as it was"
    assert dump(files.db) == table, "nothing written"


async def test_diff_refuses_a_file_of_another_job_or_one_the_checks_refuse(
    files: Files, session: Session, settings: Settings
) -> None:
    files.write(3)
    await apply_files(session, files)
    other = files.folder / "other.toml"
    other.write_text(files.job.read_text().replace(f'id = "{JOB_ID}"', 'id = "another"'))
    refused = await idsync(settings, "job", "diff", JOB_ID, str(other))
    assert refused.returncode == 2 and "defines job 'another', not 'hr-to-db'" in refused.stderr
    broken = files.folder / "broken.toml"
    broken.write_text(files.job.read_text().replace('connection = "db"', 'connection = "nowhere"'))
    refused = await idsync(settings, "job", "diff", JOB_ID, str(broken))
    assert refused.returncode == 2 and "nowhere" in refused.stderr


async def test_diff_says_a_plan_with_the_file_would_wait_for_approval(
    files: Files, session: Session, services: RunServices, settings: Settings
) -> None:
    """Leavers deleted from now on (the job left them alone): the diff shows the deletes,
    and that a run of that plan writes nothing until approved, as the run then does."""
    rows = files.write(20, on_destination_only="skip")
    await apply_files(session, files)
    async with services("workflow", "runner"):
        _, end = await follow_run(session, JOB_ID, None)
        assert isinstance(end, RunFinished) and end.stats.created == 20
    write_csv(files.csv, rows[:10])  # ten leave: half the table
    changed = files.folder / "changed.toml"
    changed.write_text(
        files.job.read_text().replace(
            'on_destination_only = "skip"', 'on_destination_only = "delete"'
        )
    )
    shown = await idsync(settings, "job", "diff", JOB_ID, str(changed), "--json")
    assert shown.returncode == 0, shown.stderr
    found = json.loads(shown.stdout)
    assert found["now"]["over_limits"] is None
    assert found["with_file"]["counts"]["delete"] == 10
    assert "exceed" in found["with_file"]["over_limits"]
    text = await idsync(settings, "job", "diff", JOB_ID, str(changed))
    assert "with the file, over the safety limits, a run of this plan waits for approval" in (
        text.stdout
    )
    preview_after = files.job  # the run after applying the file says the same
    preview_after.write_text(changed.read_text())
    await apply_files(session, files)
    async with services("workflow", "runner"):
        _, waits = await follow_run(session, JOB_ID, None)
    assert isinstance(waits, RunAwaitingApproval) and waits.counts is not None
    assert waits.counts.delete == 10
    assert len(dump(files.db)) == 20, "nothing deleted before an approval"
