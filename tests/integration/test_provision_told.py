"""Provision one object now, told as the next full run would see the record: a record
that fails is in the source (not "out of scope"), an object the source no longer holds
is matched (not "no object has the key") and left alone, never deleted by the run."""

from __future__ import annotations

import sqlite3
from typing import Any

import msgspec
import pytest

from services.cli.watch import follow_run
from services.common.people import write_csv
from services.common.settings import Settings

from .conftest import JOB_ID, Files
from .portal import portal_running, signed_in
from .secured import Running, apply_as, person

DEPARTMENTS = 'transform = { map = { Engineering = "Eng", Legal = "Law", People = "HR" } }'
"""Every department of the first people but Support (and Research) is mapped: theirs fail."""


@pytest.fixture
def secure(secure: Settings) -> Settings:
    return msgspec.structs.replace(secure, portal_port=0)


def held(files: Files) -> set[str]:
    with sqlite3.connect(files.db) as db:
        return {row[0] for row in db.execute("SELECT employee_id FROM people")}


def steps_of(answer: Any) -> dict[str, dict[str, Any]]:
    assert answer.status_code == 200, answer.text
    return {step["step"]: step for step in answer.json()["steps"]}


async def test_provisioning_says_what_the_source_and_the_destination_hold(
    files: Files, secure: Settings, secured_services: Running
) -> None:
    rows = files.write(count=10, owners=["alice"], extra='owners = ["alice"]\n')
    mapped = '{ to = "department", ' + DEPARTMENTS + " }"
    files.job.write_text(files.job.read_text().replace('{ to = "department" }', mapped))
    failing = next(r for r in rows if r["department"] == "Support")["employee_id"]
    leaver = next(r for r in rows if r["department"] == "Legal")
    async with portal_running(secured_services):
        async with person(secure, "alice") as alice_cli:
            await apply_as(alice_cli, files)
            await follow_run(alice_cli, JOB_ID, None)
        assert failing not in held(files) and leaver["employee_id"] in held(files)
        write_csv(files.csv, [r for r in rows if r is not leaver])
        async with signed_in(secure, "alice") as alice:
            url = f"/api/jobs/{JOB_ID}/provision"
            steps = steps_of(await alice.send("POST", url, json={"key": failing, "wait": 60}))
            assert steps["in scope"]["outcome"] == "failed", steps
            assert 'no entry for "Support"' in steps["in scope"]["detail"]
            assert steps["outcome"]["outcome"] == "refused"

            key = leaver["employee_id"]
            steps = steps_of(await alice.send("POST", url, json={"key": key, "wait": 60}))
            assert steps["in scope"]["outcome"] == "no"
            assert steps["matched"]["outcome"] == "yes", steps
            assert "next full run would delete it" in steps["matched"]["detail"]
            assert steps["outcome"]["outcome"] == "unchanged"
            assert key in held(files), "a run for one key deletes nothing"

            steps = steps_of(await alice.send("POST", url, json={"key": "E999999", "wait": 60}))
            assert (steps["in scope"]["outcome"], steps["matched"]["outcome"]) == ("no", "no")

            blank = await alice.send("POST", url, json={"key": "   "})
            assert blank.status_code == 400 and "body.key" in blank.text


async def test_provisioning_a_key_a_job_leaves_as_it_is_says_its_object_is_there(
    files: Files, secure: Settings, secured_services: Running
) -> None:
    """A job that never updates (`on_both = "skip"`): the record is skipped, and its
    object is there — not "no object in the destination has the key"."""
    rows = files.write(count=4, owners=["alice"], extra='owners = ["alice"]\n')
    skipping = 'keys = ["employee_id"]\non_both = "skip"'
    files.job.write_text(files.job.read_text().replace('keys = ["employee_id"]', skipping))
    key = rows[1]["employee_id"]
    async with portal_running(secured_services):
        async with person(secure, "alice") as alice_cli:
            await apply_as(alice_cli, files)
            await follow_run(alice_cli, JOB_ID, None)
        write_csv(files.csv, [{**r, "last_name": "Changed"} for r in rows])
        async with signed_in(secure, "alice") as alice:
            url = f"/api/jobs/{JOB_ID}/provision"
            steps = steps_of(await alice.send("POST", url, json={"key": key, "wait": 60}))
    assert steps["in scope"]["outcome"] == "yes"
    assert steps["matched"]["outcome"] == "yes", steps
    assert steps["planned change"]["outcome"] == "none"
    assert steps["outcome"]["outcome"] == "unchanged"


async def test_provisioning_a_key_the_jobs_where_leaves_out_says_so_and_keeps_its_object(
    files: Files, secure: Settings, secured_services: Running
) -> None:
    rows = files.write(count=6, owners=["alice"], extra='owners = ["alice"]\n')
    async with portal_running(secured_services):
        async with person(secure, "alice") as alice_cli:
            await apply_as(alice_cli, files)
            await follow_run(alice_cli, JOB_ID, None)
            left_out = rows[0]["department"]
            rule = f'{{ not = {{ field = "department", equals = "{left_out}" }} }}'
            text = files.job.read_text().replace(
                'file = "people.csv" }', f'file = "people.csv", where = {rule} }}'
            )
            files.job.write_text(text)
            await apply_as(alice_cli, files)
        key = rows[0]["employee_id"]
        async with signed_in(secure, "alice") as alice:
            url = f"/api/jobs/{JOB_ID}/provision"
            steps = steps_of(await alice.send("POST", url, json={"key": key, "wait": 60}))
            fresh = steps_of(await alice.send("POST", url, json={"key": "E999999", "wait": 60}))
    assert steps["in scope"]["outcome"] == "no"
    assert "where leaves its record out" in steps["in scope"]["detail"], steps
    assert steps["matched"]["outcome"] == "yes"
    assert "next full run would delete it" in steps["matched"]["detail"]
    assert key in held(files), "a run for one key deletes nothing"
    assert (fresh["in scope"]["outcome"], fresh["matched"]["outcome"]) == ("no", "no")
