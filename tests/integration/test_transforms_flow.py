"""A job with transformations runs CSV → SQLite through the services; a record whose
transformation fails is reported while the others are written; `job preview --sample`."""

from __future__ import annotations

import asyncio
import json
import subprocess

from schemas.events import RunPlanned
from services.cli.client import Session
from services.common.people import DEPARTMENTS as DEPARTMENT_NAMES
from services.common.people import write_csv
from services.common.settings import Settings
from services.runner.planning import open_sides, plan_job

from .conftest import IDSYNC, JOB_ID, Files, RunServices, apply_files, env_for
from .test_flow import run_job, table

# TOML inline tables stay on one line.
DEPARTMENTS = "{ " + ", ".join(f'{name} = "{name[:3].upper()}"' for name in DEPARTMENT_NAMES) + " }"
JOB = f"""\
id = "{JOB_ID}"
source = {{ connection = "hr", file = "people.csv" }}
destination = {{ connection = "db", table = "people" }}

[[objects]]
keys = ["employee_id"]
fields = [
  {{ to = "employee_id" }},
  {{ to = "cn", transform = {{ join = ["first_name", "last_name"], separator = " " }} }},
  {{ to = "uid", from = "email", transform = [{{ split = "@", nth = 0 }}, "upper"] }},
  {{ to = "dept", from = "department", transform = {{ map = {DEPARTMENTS} }} }},
  {{ to = "groups", delimiter = "|", transform = {{ replace = "^", with = "g-", regex = true }} }},
  {{ to = "origin", transform = {{ static = "%JOB_ID%" }} }},
  {{ to = "password", transform = {{ password = 16, ad_complexity = true }} }},
]
"""


async def test_transformed_values_are_written_and_a_failing_record_is_reported(
    files: Files, session: Session, services: RunServices
) -> None:
    rows = files.write(count=40)
    rows[5]["department"] = "Mars"  # not in the map: that record's error
    write_csv(files.csv, rows)
    files.job.write_text(JOB)
    await apply_files(session, files)
    async with services():
        end = await run_job(session)
    stored = table(files.db)
    failing = rows[5]["employee_id"]
    assert failing not in stored
    assert len(stored) == 39 and end.stats.created == 39
    sample = rows[17]
    row = stored[sample["employee_id"]]
    assert row["cn"] == f"{sample['first_name']} {sample['last_name']}"
    assert row["uid"] == sample["email"].split("@")[0].upper()
    assert row["dept"] == sample["department"][:3].upper()
    assert row["groups"] == "|".join(f"g-{g}" for g in sample["groups"].split("|"))
    assert row["origin"] == JOB_ID
    password = str(row.get("password") or "")
    assert len(password) == 16, "made by the runner as the record was created"
    # The run counts the record as failed and its plan names it with its key.
    assert end.stats.failed == 1 and end.with_errors
    (announced,) = [e for e in await session.journal() if isinstance(e, RunPlanned)]
    assert [(e.key, e.action) for e in announced.errors] == [(failing, "map")]
    job = await session.store.job(JOB_ID)
    async with open_sides(session.store, job) as sides:
        planned = await plan_job(job, sides)
    assert [(e.key, e.action) for e in planned.record_errors] == [(failing, "map")]
    assert 'dept: map has no entry for "Mars"' in planned.record_errors[0].message


async def idsync(settings: Settings, *args: str) -> subprocess.CompletedProcess[str]:
    return await asyncio.to_thread(
        subprocess.run,
        [*IDSYNC, *args],
        env=env_for(settings),
        capture_output=True,
        text=True,
        timeout=120,
    )


async def test_preview_sample_shows_what_each_field_becomes(
    files: Files, session: Session, settings: Settings
) -> None:
    rows = files.write(count=10)
    rows[1]["department"] = "Mars"
    write_csv(files.csv, rows)
    files.job.write_text(JOB)
    await apply_files(session, files)
    shown = await idsync(settings, "job", "preview", JOB_ID, "--sample", "3")
    assert shown.returncode == 0, shown.stderr
    first = rows[0]
    lines = [" ".join(line.split()) for line in shown.stdout.splitlines()]  # spacing aside
    assert f"→ cn {first['first_name']} {first['last_name']}" in lines
    assert "→ password (generated at apply time)" in lines
    assert any(line.startswith('fails: dept: map has no entry for "Mars"') for line in lines)
    assert shown.stdout.count("\n#") == 3
    as_json = await idsync(settings, "job", "preview", JOB_ID, "--sample", "2", "--json")
    assert as_json.returncode == 0, as_json.stderr
    samples = json.loads(as_json.stdout)["samples"]
    assert [s["source"]["employee_id"] for s in samples] == [r["employee_id"] for r in rows[:2]]
    assert samples[0]["mapped"]["origin"] == JOB_ID
    assert samples[0]["generated"] == ["password"] and "password" not in samples[0]["mapped"]
    assert samples[1]["error"].startswith("dept: map has no entry")
    assert not files.db.exists()  # a preview writes nothing
