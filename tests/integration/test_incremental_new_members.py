"""An incremental run (`--changed-only`) that creates a new object names it where the
source's records that did not change name it — its groups' members, the manager of the
people it manages — as a whole run on the same data would: the run (and its preview)
creates the object and writes those references and nothing else of the unchanged
records, its watermark is the one its changed records give, and a whole run afterwards
finds nothing more to do.

Each case plans over real SQLite tables as a run plans it, applies the plan to them,
then plans the whole job again (tests/integration/test_scoped_new_members.py is the
same for a run scoped to the new object's key).
"""

from __future__ import annotations

import sqlite3
from pathlib import Path

import msgspec
import pytest

from schemas.connections import SqliteConnection
from schemas.jobs import Changes, Endpoint, Job, ObjectMapping, Resolve
from services.runner.planning import PlannedRun
from services.runner.planning.reading import Reading

from .test_scoped_new_members import GROUPS, USERS, apply, shown
from .test_scoped_new_members import planned as scoped_plan
from .test_scoped_reads import plan_between, table

SINCE = '{"group": "4", "user": "4"}'
"""The watermark of the run before: every record but u9's is older."""


def hr(folder: Path, members: str = "u1|u9") -> Job:
    """Source: u1, u2, u3 (managed by u9) and u9, new — the only record changed since
    the watermark; g1 (`members`), g2 (u2), unchanged. Destination: u1, u2, u3 (no
    manager); g1 (u1), g2 (u2)."""
    people = [
        ("u1", "Ada", "", 1),
        ("u2", "Bob", "", 2),
        ("u3", "Cy", "u9", 3),
        ("u9", "Nia", "", 5),
    ]
    table(folder / "hr.db", "hr", ["emp", "name", "boss", "at"], people)
    groups = [("g1", members, 1), ("g2", "u2", 2)]
    table(folder / "hr.db", "hr_groups", ["gid", "members", "at"], groups)
    objects = [("u1", "Ada", None), ("u2", "Bob", None), ("u3", "Cy", None)]
    table(folder / "dir.db", "people", ["id", "name", "boss"], objects)
    table(folder / "dir.db", "groups", ["id", "members"], [("g1", "u1"), ("g2", "u2")])
    return Job(
        id="new-members",
        source=Endpoint(connection="hr", table="hr"),
        destination=Endpoint(connection="dir", table="people"),
        objects=[USERS, GROUPS],
        changes=Changes(field="at"),
    )


async def planned(folder: Path, the_job: Job, since: str | None) -> PlannedRun:
    """The job planned as a run plans it: incremental from `since`, or whole (None)."""
    source = SqliteConnection(id="hr", path=str(folder / "hr.db"))
    target = SqliteConnection(id="dir", path=str(folder / "dir.db"))
    reading = Reading(incremental=True, since=since) if since is not None else None
    return await plan_between(source, target, the_job, None, reading)


def one_type(the_job: Job) -> Job:
    """The job of users alone, its watermark that of one type."""
    return msgspec.structs.replace(the_job, objects=[USERS])


def skipping(mapping: ObjectMapping) -> ObjectMapping:
    """The mapping with its reference fields' `if_none = "skip"`."""
    fields = [
        f
        if f.resolve is None
        else msgspec.structs.replace(f, resolve=msgspec.structs.replace(f.resolve, if_none="skip"))
        for f in mapping.fields
    ]
    return msgspec.structs.replace(mapping, fields=fields)


@pytest.mark.parametrize("shape", ["several types", "one type", "members if_none skip"])
async def test_an_incremental_run_creating_a_user_writes_its_memberships_as_a_whole_run(
    tmp_path: Path, shape: str
) -> None:
    the_job = hr(tmp_path)
    since = SINCE
    if shape == "one type":
        the_job, since = one_type(the_job), "4"
    if shape == "members if_none skip":
        the_job = msgspec.structs.replace(the_job, objects=[USERS, skipping(GROUPS)])
    changed = await planned(tmp_path, the_job, since)
    whole = await planned(tmp_path, the_job, None)
    expected: list[tuple[str, str, str, object]] = [
        ("create", "u9", "", {"id": "u9", "name": "Nia"}),
        ("update", "u3", "references", {"boss": "u9"}),
    ]
    if shape != "one type":
        expected.append(("update", "g1", "references", {"members": ["u1", "u9"]}))
    assert changed.incremental
    assert sorted(shown(changed), key=str) == sorted(expected, key=str)
    assert shown(whole) == shown(changed)  # what a whole run on the same data plans
    assert changed.plan.counts.create == 1
    assert changed.plan.counts.update == len(expected) - 1
    assert changed.record_errors == []
    assert changed.source_records == 1  # the changed record, as the run counts them
    # The watermark is the changed records' own: the groups' stays where it was.
    assert changed.watermark == ("5" if shape == "one type" else '{"group":"4","user":"5"}')
    again = await planned(tmp_path, the_job, since)  # a preview plans it as the run does
    assert again.plan.hash == changed.plan.hash

    await apply(tmp_path, the_job, list(changed.plan.changes))
    after = await planned(tmp_path, the_job, None)
    assert after.plan.changes == []
    assert after.record_errors == []


async def test_an_incremental_run_leaves_a_groups_other_members_to_a_whole_run(
    tmp_path: Path,
) -> None:
    # g1 in the source also names u2, which it does not hold yet: the incremental run
    # adds u9 alone, as a run scoped to u9 does; u2 is a whole run's to add.
    the_job = hr(tmp_path, members="u1|u2|u9")
    changed = await planned(tmp_path, the_job, SINCE)
    assert [(c.key, c.set) for c in changed.plan.changes if c.object_type == "group"] == [
        ("g1", {"members": ["u1", "u9"]})
    ]
    await apply(tmp_path, the_job, list(changed.plan.changes))
    after = await planned(tmp_path, the_job, None)
    assert [(c.key, c.set) for c in after.plan.changes] == [("g1", {"members": ["u1", "u9", "u2"]})]


async def test_an_incremental_run_creating_nothing_leaves_unchanged_groups_alone(
    tmp_path: Path,
) -> None:
    # Nothing new: the unchanged groups are left as they are, even where their records
    # name members they do not hold (a whole run's to add).
    the_job = hr(tmp_path, members="u1|u2")
    changed = await planned(tmp_path, the_job, '{"group": "4", "user": "6"}')
    assert changed.plan.changes == []


@pytest.mark.parametrize("shape", ["incremental", "scoped to the new key"])
async def test_a_group_holding_its_placeholder_gets_the_new_user_instead(
    tmp_path: Path, shape: str
) -> None:
    # g1 named nobody who existed: it holds its placeholder. Its record names u9 alone,
    # created by the run: the group then holds u9, without the placeholder, as a whole
    # run writes it — not the placeholder beside the member until a whole run.
    the_job = hr(tmp_path, members="u9")
    members = msgspec.structs.replace(
        GROUPS.fields[1], resolve=Resolve(type="user", by="id", placeholder="nobody")
    )
    groups = msgspec.structs.replace(GROUPS, fields=[GROUPS.fields[0], members])
    the_job = msgspec.structs.replace(the_job, objects=[USERS, groups])
    db = sqlite3.connect(tmp_path / "dir.db")
    with db:
        db.execute("UPDATE groups SET members = 'nobody' WHERE id = 'g1'")
    db.close()
    if shape == "incremental":
        partial = await planned(tmp_path, the_job, SINCE)
    else:
        partial = await scoped_plan(tmp_path, the_job, ["u9"])
    whole = await planned(tmp_path, the_job, None)
    [g1] = [c for c in partial.plan.changes if c.key == "g1"]
    assert g1.set == {"members": ["u9"]}
    assert shown(partial) == shown(whole)
    await apply(tmp_path, the_job, list(partial.plan.changes))
    after = await planned(tmp_path, the_job, None)
    assert after.plan.changes == []


@pytest.mark.parametrize("shape", ["whole", "incremental", "scoped to its key"])
async def test_a_record_that_fails_names_its_type_in_a_job_of_several(
    tmp_path: Path, shape: str
) -> None:
    # u9's name holds a control character: its record fails. In a job of users and
    # groups, the report says it is a user's record, as it says of the groups naming it.
    the_job = hr(tmp_path)
    db = sqlite3.connect(tmp_path / "hr.db")
    with db:
        db.execute("UPDATE hr SET name = 'Nia\x01' WHERE emp = 'u9'")
    db.close()
    if shape == "whole":
        run = await planned(tmp_path, the_job, None)
    elif shape == "incremental":
        run = await planned(tmp_path, the_job, SINCE)
    else:
        run = await scoped_plan(tmp_path, the_job, ["u9"])
    failed = [(e.key, e.action, e.object_type) for e in run.record_errors if e.action == "map"]
    assert failed == [("u9", "map", "user")]
    assert run.plan.changes == []
