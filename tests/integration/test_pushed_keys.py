"""Runs scoped to the keys of pushed records (each SCIM push asks for one) look those
records up by their own key — externalId, else userName — in the pushed records' bucket
on a real nats-server, instead of reading every record ever pushed; and plan what reading
them all plans."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from schemas.connections import ScimInboundConnection, SqliteConnection
from schemas.jobs import Endpoint, FieldMap, Job, ObjectMapping
from schemas.values import Record
from services.cli.client import Session
from services.common import pushed
from services.runner.planning import PlannedRun, scoped

from .test_scoped_reads import plan_between

CRM = ScimInboundConnection(id="crm", systems=["crm"])


def job(key_from: str) -> Job:
    return Job(
        id="crm-to-db",
        source=Endpoint(connection="crm"),
        destination=Endpoint(connection="db", table="people"),
        objects=[
            ObjectMapping(
                keys=["id"],
                fields=[FieldMap(to="id", from_=key_from), FieldMap(to="dept", from_="title")],
            )
        ],
    )


@pytest.fixture
async def crm(session: Session, tmp_path: Path) -> Path:
    """Three users pushed — two with an externalId, one with a userName alone — and a
    destination table holding none of them."""
    pushed.bind(lambda: session.nc)
    records: dict[str, Record] = {
        "E1": {"externalId": "E1", "userName": "ada", "title": "Engineer"},
        "E2": {"externalId": "E2", "userName": "grace", "title": "Admiral"},
        "alan": {"userName": "alan", "title": "Mathematician"},
    }
    await pushed.put(
        session.js,
        CRM.id,
        [
            (key, pushed.Pushed(record=r, by="crm", at="2026-12-06T00:00:00Z"))
            for key, r in records.items()
        ],
    )
    db = sqlite3.connect(tmp_path / "db.sqlite")
    db.execute("CREATE TABLE people (id TEXT, dept TEXT)")
    db.commit()
    db.close()
    return tmp_path


async def plan(folder: Path, the_job: Job, keys: list[str]) -> PlannedRun:
    db = SqliteConnection(id="db", path=str(folder / "db.sqlite"))
    return await plan_between(CRM, db, the_job, keys)


CASES = {
    # (the source field the key is copied from, keys asked for, source records read)
    "by externalId": ("externalId", ["E2"], 1),
    "two by externalId": ("externalId", ["E1", "E2"], 2),
    "by userName, stored under it": ("userName", ["alan"], 1),
    "by userName, stored under its externalId: all read": ("userName", ["grace"], 3),
    "a key never pushed: all read": ("externalId", ["E9"], 3),
}


@pytest.mark.parametrize("case", list(CASES))
async def test_a_push_reads_its_own_records_and_plans_what_reading_all_plans(
    crm: Path, case: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    key_from, keys, read = CASES[case]
    the_job = job(key_from)
    looked_up = await plan(crm, the_job, keys)
    with monkeypatch.context() as patched:
        patched.setattr(scoped, "source_lookup", lambda *_: None)
        whole = await plan(crm, the_job, keys)
    assert looked_up.plan.hash == whole.plan.hash
    assert looked_up.plan.changes == whole.plan.changes
    found = [k for k in keys if k != "E9"]
    assert sorted(c.key for c in looked_up.plan.changes) == sorted(found)
    assert looked_up.source_records == read
    assert whole.source_records == 3
