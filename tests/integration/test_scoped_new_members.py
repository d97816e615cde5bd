"""A run scoped to the key of a new object (`idsync job run --key`) names it where the
source's records outside its scope do — its groups' members, the manager of the people
it manages — as a whole run on the same data would: the scoped run (and its preview)
creates the object and writes those references, and a whole run afterwards finds
nothing more to do.

Each case plans over real SQLite tables as a run plans it, applies the plan to them,
then plans the whole job again.
"""

from __future__ import annotations

from pathlib import Path

import msgspec
import pytest

from schemas.connections import SqliteConnection
from schemas.jobs import Endpoint, FieldMap, Job, ObjectMapping, ObjectScope, Resolve
from schemas.plan import Change
from services.runner.planning import PlannedRun
from services.runner.planning.sides import open_pair

from .test_scoped_reads import plan_between, table

USERS = ObjectMapping(
    type="user",
    keys=["id"],
    fields=[
        FieldMap(to="id", from_="emp"),
        FieldMap(to="name"),
        FieldMap(to="boss", resolve=Resolve(type="user", by="id")),
    ],
)
GROUPS = ObjectMapping(
    type="group",
    keys=["id"],
    fields=[
        FieldMap(to="id", from_="gid"),
        FieldMap(to="members", delimiter="|", resolve=Resolve(type="user", by="id")),
    ],
    source=ObjectScope(table="hr_groups"),
    destination=ObjectScope(table="groups"),
)


def hr(folder: Path) -> Job:
    """Source: u1, u2, u3 (managed by u9) and u9, new; g1 (u1 and u9), g2 (u2).
    Destination: u1, u2, u3 (no manager); g1 (u1), g2 (u2)."""
    people = [("u1", "Ada", ""), ("u2", "Bob", ""), ("u3", "Cy", "u9"), ("u9", "Nia", "")]
    table(folder / "hr.db", "hr", ["emp", "name", "boss"], people)
    table(folder / "hr.db", "hr_groups", ["gid", "members"], [("g1", "u1|u9"), ("g2", "u2")])
    objects = [("u1", "Ada", None), ("u2", "Bob", None), ("u3", "Cy", None)]
    table(folder / "dir.db", "people", ["id", "name", "boss"], objects)
    table(folder / "dir.db", "groups", ["id", "members"], [("g1", "u1"), ("g2", "u2")])
    return Job(
        id="new-members",
        source=Endpoint(connection="hr", table="hr"),
        destination=Endpoint(connection="dir", table="people"),
        objects=[USERS, GROUPS],
    )


async def planned(folder: Path, the_job: Job, keys: list[str] | None) -> PlannedRun:
    source = SqliteConnection(id="hr", path=str(folder / "hr.db"))
    target = SqliteConnection(id="dir", path=str(folder / "dir.db"))
    return await plan_between(source, target, the_job, keys)


async def apply(folder: Path, the_job: Job, changes: list[Change]) -> None:
    """The changes applied to each type's table, in the plan's order."""
    source = SqliteConnection(id="hr", path=str(folder / "hr.db"))
    target = SqliteConnection(id="dir", path=str(folder / "dir.db"))
    for at, mapping in enumerate(the_job.objects):
        destination = open_pair(source, target, the_job, at)[1]
        await destination.open(write=True)
        try:
            mine = [c for c in changes if c.object_type == mapping.type]
            outcomes = await destination.apply(mine)
            assert all(o.error is None for o in outcomes), outcomes
        finally:
            await destination.close()


def shown(run: PlannedRun) -> list[tuple[str, str, str, object]]:
    return [(c.action, c.key, c.phase, c.set) for c in run.plan.changes]


@pytest.mark.parametrize("shape", ["several types", "one type"])
async def test_a_run_scoped_to_a_new_users_key_writes_its_memberships_as_a_whole_run(
    tmp_path: Path, shape: str
) -> None:
    the_job = hr(tmp_path)
    if shape == "one type":
        the_job = msgspec.structs.replace(the_job, objects=[USERS])
    scoped = await planned(tmp_path, the_job, ["u9"])
    whole = await planned(tmp_path, the_job, None)
    expected: list[tuple[str, str, str, object]] = [
        ("create", "u9", "", {"id": "u9", "name": "Nia"}),
        ("update", "u3", "references", {"boss": "u9"}),
    ]
    if shape == "several types":
        expected.append(("update", "g1", "references", {"members": ["u1", "u9"]}))
    assert sorted(shown(scoped), key=str) == sorted(expected, key=str)
    assert shown(whole) == shown(scoped)  # what a whole run on the same data plans
    assert scoped.plan.counts.create == 1
    assert scoped.plan.counts.update == len(expected) - 1
    assert scoped.record_errors == []
    again = await planned(tmp_path, the_job, ["u9"])  # a preview plans it as the run does
    assert again.plan.hash == scoped.plan.hash

    await apply(tmp_path, the_job, list(scoped.plan.changes))
    after = await planned(tmp_path, the_job, None)
    assert after.plan.changes == []
    assert after.record_errors == []


async def test_a_scoped_run_leaves_a_groups_other_members_to_a_whole_run(tmp_path: Path) -> None:
    # g1 in the source also names u2, which it does not hold yet: the run scoped to u9
    # adds u9 alone; u2 is a whole run's (or a run scoped to g1) to add.
    the_job = hr(tmp_path)
    table(tmp_path / "hr.db", "hr_groups2", ["gid", "members"], [("g1", "u1|u2|u9")])
    groups = msgspec.structs.replace(GROUPS, source=ObjectScope(table="hr_groups2"))
    the_job = msgspec.structs.replace(the_job, objects=[USERS, groups])
    scoped = await planned(tmp_path, the_job, ["u9"])
    [g1] = [c for c in scoped.plan.changes if c.key == "g1"]
    assert g1.set == {"members": ["u1", "u9"]}
    await apply(tmp_path, the_job, list(scoped.plan.changes))
    after = await planned(tmp_path, the_job, None)
    assert [(c.key, c.set) for c in after.plan.changes] == [("g1", {"members": ["u1", "u9", "u2"]})]
