"""A source filter (`where`) for every provider, evaluated by the engine: a CSV has no query
of its own. Records it leaves out are out of the job's scope, so their objects are absent."""

from __future__ import annotations

import sqlite3

import pytest

from core.checks.job import check_job
from core.errors import BadInput
from schemas.events import RunFinished
from services.cli.client import Session
from services.cli.watch import follow_run
from services.common.definitions import load_connections, load_job
from services.common.people import write_csv
from services.providers import FACTS

from .conftest import JOB_ID, Files, RunServices, apply_files

NOT_LEGAL = 'where = { not = { field = "department", equals = "Legal" } }'


def rows(files: Files) -> set[str]:
    with sqlite3.connect(files.db) as conn:
        return {str(r[0]) for r in conn.execute("SELECT employee_id FROM people")}


def filtered(files: Files) -> None:
    text = files.job.read_text().replace(
        'file = "people.csv" }', f'file = "people.csv", {NOT_LEGAL} }}', 1
    )
    files.job.write_text(text)


async def test_records_the_filter_leaves_out_are_not_created_and_their_objects_go(
    files: Files, session: Session, services: RunServices
) -> None:
    people = files.write(count=40, extra="safety = { max_percent = 100 }")
    filtered(files)
    await apply_files(session, files)
    legal = {p["employee_id"] for p in people if p["department"] == "Legal"}
    assert legal, "the made-up people include lawyers"
    async with services():
        _, first = await follow_run(session, JOB_ID, None)
        assert isinstance(first, RunFinished) and first.stats.created == 40 - len(legal)
        assert rows(files) == {p["employee_id"] for p in people} - legal
        mover = next(p for p in people if p["employee_id"] not in legal)
        mover["department"] = "Legal"  # moves to Legal: out of the job's scope now
        write_csv(files.csv, people)
        _, second = await follow_run(session, JOB_ID, None)
    assert isinstance(second, RunFinished) and second.stats.deleted == 1
    assert mover["employee_id"] not in rows(files)


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (
            '\n[objects.leavers]\nwhen = { field = "status", equals = "x" }\n',
            "$.objects[0].leavers.action: destination db cannot disable",
        ),
        (
            '\n[objects.leavers]\nwhen = { field = "status" }\naction = "delete"\n',
            "$.objects[0].leavers.when: when needs exactly one of matches, equals or empty",
        ),
    ],
    ids=["leavers-disable-on-sqlite", "leavers-when-without-test"],
)
async def test_leavers_a_destination_cannot_serve_are_refused_when_applied(
    files: Files, extra: str, message: str
) -> None:
    files.write(count=1)
    files.job.write_text(files.job.read_text() + extra)
    with pytest.raises(BadInput) as refused:
        check_job(
            load_job(files.job), {c.id: c for c in load_connections(files.connections)}, FACTS
        )
    assert message in str(refused.value)


async def test_a_filter_on_the_destination_is_refused(files: Files) -> None:
    files.write(count=1)
    text = files.job.read_text().replace('table = "people" }', f'table = "people", {NOT_LEGAL} }}')
    files.job.write_text(text)
    with pytest.raises(BadInput) as refused:
        check_job(
            load_job(files.job), {c.id: c for c in load_connections(files.connections)}, FACTS
        )
    assert "$.destination.where: filters the source only" in str(refused.value)
