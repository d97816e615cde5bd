"""Scripts (a function an installed module holds) and per-run hooks."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

import pytest

from core.errors import BadInput
from schemas.events import RunFinished
from services.cli.client import Session
from services.cli.watch import follow_run

from .conftest import CONNECTIONS, JOB_ID, Files, RunServices, apply_files

JOB = f"""\
id = "{JOB_ID}"
source = {{ connection = "hr", file = "people.csv" }}
destination = {{ connection = "db", table = "people" }}
hooks = "{{hooks}}"

[[objects]]
keys = ["employee_id"]
fields = [
  {{ to = "employee_id" }},
  {{ to = "login", transform = {{ script = "tests.plugins.scripted:login" }} }},
]
"""


async def test_a_script_maps_and_skips_and_hooks_see_every_step(
    files: Files,
    session: Session,
    services: RunServices,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    journal = tmp_path / "hooks.log"
    monkeypatch.setenv("IDSYNC_TEST_HOOKS_LOG", str(journal))
    people = files.write(count=12)
    refused = next(p["employee_id"] for p in people if p["department"] != "Legal")
    monkeypatch.setenv("IDSYNC_TEST_HOOKS_REFUSE", refused)
    files.connections.write_text(CONNECTIONS)
    files.job.write_text(JOB.replace("{hooks}", "tests.plugins.scripted:Audit"))
    await apply_files(session, files)
    async with services():
        _, end = await follow_run(session, JOB_ID, None)
    legal = [p for p in people if p["department"] == "Legal"]
    assert isinstance(end, RunFinished)
    assert end.stats.skipped == len(legal), "the script left Legal out"
    assert end.stats.failed == 1, "the before_create hook refused one"
    assert end.stats.created == 12 - len(legal) - 1
    with sqlite3.connect(files.db) as conn:
        logins = dict(conn.execute("SELECT employee_id, login FROM people").fetchall())
    first = next(p for p in people if p["department"] != "Legal" and p["employee_id"] != refused)
    expected = f"{first['first_name']}.{first['last_name']}".lower().replace(" ", "")
    assert logins[first["employee_id"]] == expected
    calls = [json.loads(line) for line in journal.read_text().splitlines()]
    assert calls[0][0] == "startup" and calls[-1] == ["shutdown", str(end.stats.created)]
    created = [key for kind, key, *_ in calls if kind == "after_create"]
    assert sorted(created) == sorted(logins)
    assert calls[[c[0] for c in calls].index("failed")][:2] == ["failed", refused]
    assert refused not in logins
    for key in created:
        assert calls.index(["before_create", key]) < calls.index(["after_create", key])


async def test_a_script_or_hooks_that_cannot_be_loaded_are_refused_when_applied(
    files: Files, session: Session
) -> None:
    files.write(count=2)
    files.connections.write_text(CONNECTIONS)
    files.job.write_text(JOB.replace("{hooks}", "tests.plugins.nowhere:Audit"))
    with pytest.raises(BadInput, match=r"\$\.hooks: cannot import tests\.plugins\.nowhere"):
        await apply_files(session, files)
