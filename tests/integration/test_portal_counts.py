"""The portal's run page tells every count of a plan and every statistic, as `idsync run
show` does: records skipped and objects restored are no less done than those created."""

from __future__ import annotations

import re

import msgspec
import pytest

from core.run_texts import STAT_NAMES
from services.common.people import write_csv
from services.common.settings import Settings

from .conftest import JOB_ID, Files
from .portal import portal_running, signed_in
from .secured import Running, apply_as, person
from .test_portal_api import wait_state


@pytest.fixture
def secure(secure: Settings) -> Settings:
    return msgspec.structs.replace(secure, portal_port=0)


async def test_the_run_page_counts_records_skipped_and_names_every_statistic(
    files: Files, secure: Settings, secured_services: Running
) -> None:
    files.write(count=6, owners=["alice"], extra='owners = ["alice"]\n')
    skipping = 'keys = ["employee_id"]\non_source_only = "skip"'
    files.job.write_text(files.job.read_text().replace('keys = ["employee_id"]', skipping))
    async with portal_running(secured_services):
        async with person(secure, "alice") as alice_cli:
            await apply_as(alice_cli, files)
        async with signed_in(secure, "alice") as alice:
            run_id = (await alice.send("POST", "/api/runs", json={"job": JOB_ID})).json()["run_id"]
            story = await wait_state(alice, run_id, {"finished"})
            assert story["stats"]["skipped"] == 6
            page = (await alice.get(f"/runs/{run_id}")).text
    planned = re.search(r'id="planned">Plan \w*: ([^<]*)', page)
    assert planned is not None, page
    assert "0 create" in planned[1] and "6 skipped" in planned[1], planned[1]
    shown = re.findall(r"<dt>(\w+)</dt>", page)
    assert shown == list(STAT_NAMES), "every statistic, restored objects (enabled) too"


async def test_a_preview_from_the_portal_says_its_plan_would_wait_for_approval(
    files: Files, secure: Settings, secured_services: Running
) -> None:
    rows = files.write(count=20, owners=["alice"], extra='owners = ["alice"]\n')
    async with portal_running(secured_services):
        async with person(secure, "alice") as alice_cli:
            await apply_as(alice_cli, files)
        async with signed_in(secure, "alice") as alice:
            run_id = (await alice.send("POST", "/api/runs", json={"job": JOB_ID})).json()["run_id"]
            await wait_state(alice, run_id, {"finished"})
            write_csv(files.csv, rows[:4])  # 16 of 20 gone
            shown = (await alice.send("POST", f"/api/jobs/{JOB_ID}/preview")).json()
            assert shown["counts"]["delete"] == 16
            assert "16 deletes exceed the limit" in (shown["over_limits"] or ""), shown
            run_id = (await alice.send("POST", "/api/runs", json={"job": JOB_ID})).json()["run_id"]
            story = await wait_state(alice, run_id, {"awaiting approval"})
    assert shown["over_limits"] in story["reason"], "the run waits, as its preview said"
