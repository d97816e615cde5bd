"""A reference naming an object the run deletes (a leaver) is let go — the manager
cleared — in a whole run as in a run scoped to the leaver's key, whatever the field's
`if_none`; and the record is told why: the object it names leaves in this run."""

from __future__ import annotations

import sqlite3
from pathlib import Path
from typing import Literal

import pytest

from schemas.connections import CsvConnection, SqliteConnection
from schemas.jobs import Endpoint, FieldMap, Job, Leavers, ObjectMapping, Resolve, Safety

from .test_scoped_reads import plan_between


def _job(if_none: Literal["clear", "skip"]) -> Job:
    boss = FieldMap(
        to="boss", from_="boss_no", resolve=Resolve(type="user", by="empno", if_none=if_none)
    )
    leavers = Leavers(when={"field": "status", "equals": "left"}, action="delete")
    fields = [FieldMap(to="id", from_="emp"), FieldMap(to="empno"), boss]
    return Job(
        id="managers",
        source=Endpoint(connection="hr", file="hr.csv"),
        destination=Endpoint(connection="dir", table="people"),
        objects=[ObjectMapping(keys=["id"], fields=fields, leavers=leavers)],
        safety=Safety(max_percent=100),
    )


@pytest.mark.parametrize("if_none", ["clear", "skip"])
async def test_a_manager_leaving_is_let_go_in_a_whole_run_as_in_one_scoped_to_it(
    tmp_path: Path, if_none: Literal["clear", "skip"]
) -> None:
    (tmp_path / "hr.csv").write_text("emp,empno,boss_no,status\ne1,042,,left\ne2,7,042,\n")
    with sqlite3.connect(tmp_path / "dir.db") as db:
        db.execute("CREATE TABLE people (id TEXT PRIMARY KEY, empno INTEGER, boss TEXT)")
        db.executemany("INSERT INTO people VALUES (?, ?, ?)", [("e1", 42, None), ("e2", 7, "e1")])
    db.close()
    hr = CsvConnection(id="hr", directory=str(tmp_path))
    directory = SqliteConnection(id="dir", path=str(tmp_path / "dir.db"))
    plans = {}
    for keys in (None, ["e1"]):
        planned = await plan_between(hr, directory, _job(if_none), keys)
        plans[str(keys)] = [(c.action, c.key, c.clear) for c in planned.plan.changes]
        if keys is None:
            assert [(e.key, e.message, e.skipped) for e in planned.record_errors] == [
                ("e2", "boss: the user with empno '042' leaves in this run", False)
            ]
    assert plans == {
        "None": [("update", "e2", ("boss",)), ("delete", "e1", ())],
        "['e1']": [("update", "e2", ("boss",)), ("delete", "e1", ())],
    }
