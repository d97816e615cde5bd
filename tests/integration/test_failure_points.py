"""Where a record fails, its object stays as it is: a failure never looks like absence.

Each case plans a job over real SQLite tables as a run (and its preview) plans it, with
something failing on the way — a reference that resolves to nothing or to two objects,
a transformation of one record, of every record of a type, of a record's key — in each
shape of job (one type or several, in memory or in little memory, scoped to keys,
incremental), and checks that nothing failed is taken away: no object deleted, no
value cleared, no member removed, because of it.
"""

from __future__ import annotations

import contextlib
import sqlite3
from collections.abc import Iterator
from pathlib import Path

import msgspec
import pytest

from schemas.connections import SqliteConnection
from schemas.jobs import (
    Endpoint,
    FieldMap,
    Job,
    ObjectMapping,
    ObjectScope,
    Resolve,
    Safety,
)
from services.runner.planning import PlannedRun, low_memory
from services.runner.planning.reading import Reading

from .test_scoped_reads import plan_between, table


async def plan(folder: Path, the_job: Job, keys: list[str] | None = None) -> PlannedRun:
    source = SqliteConnection(id="hr", path=str(folder / "hr.db"))
    target = SqliteConnection(id="dir", path=str(folder / "dir.db"))
    return await plan_between(source, target, the_job, keys, Reading())


@contextlib.contextmanager
def lean_if(lean: bool) -> Iterator[None]:
    """The low-memory path taken (every destination large) when `lean`."""
    with pytest.MonkeyPatch.context() as large:
        if lean:
            large.setattr(low_memory, "LEAN_ABOVE", -1)
        yield


def shown(planned: PlannedRun) -> list[str]:
    return sorted(f"{c.action} {c.key}" for c in planned.plan.changes)


# References: a manager and a group's members, looked up by mail.
USERS = ObjectMapping(
    type="user",
    keys=["id"],
    fields=[
        FieldMap(to="id", from_="emp"),
        FieldMap(to="mail"),
        FieldMap(to="boss", resolve=Resolve(type="user", by="mail")),
    ],
    on_destination_only="delete",
)
GROUPS = ObjectMapping(
    type="group",
    keys=["id"],
    fields=[
        FieldMap(to="id", from_="gid"),
        FieldMap(to="members", delimiter="|", resolve=Resolve(type="user", by="mail")),
    ],
    source=ObjectScope(table="hr_groups"),
    destination=ObjectScope(table="groups"),
    on_destination_only="delete",
)


def referring(folder: Path, u1_mail: str = "a@x", u2_mail: str = "b@x") -> Job:
    """In the destination u1 (a@x) manages u3 and is in g1 with u3; in the source u1's
    mail is `u1_mail`, u2's `u2_mail`, and u3's manager and g1's members are named by
    u1's mail in the source."""
    people = [("u1", u1_mail, ""), ("u2", u2_mail, ""), ("u3", "c@x", u1_mail)]
    table(folder / "hr.db", "hr", ["emp", "mail", "boss"], people)
    table(folder / "hr.db", "hr_groups", ["gid", "members"], [("g1", f"{u1_mail}|c@x")])
    objects = [("u1", "a@x", None), ("u2", "b@x", None), ("u3", "c@x", "u1")]
    table(folder / "dir.db", "people", ["id", "mail", "boss"], objects)
    table(folder / "dir.db", "groups", ["id", "members"], [("g1", "u1|u3")])
    return Job(
        id="failures",
        source=Endpoint(connection="hr", table="hr"),
        destination=Endpoint(connection="dir", table="people"),
        objects=[USERS, GROUPS],
        safety=Safety(max_percent=100),
    )


@pytest.mark.parametrize("keys", [None, ["u2", "u3", "g1"]], ids=["full", "key-scoped"])
async def test_a_reference_that_finds_two_objects_keeps_the_value_it_had(
    tmp_path: Path, keys: list[str] | None
) -> None:
    # u2's mail is now u1's too: "a@x" names two users, so u3's manager and g1's member
    # u1 cannot be told; neither is cleared nor removed, both are reported.
    the_job = referring(tmp_path, u2_mail="a@x")
    planned = await plan(tmp_path, the_job, keys)
    references = [c for c in planned.plan.changes if c.phase == "references"]
    assert references == [], "a value that did not resolve was cleared or removed"
    assert sorted((e.key, e.message) for e in planned.record_errors) == [
        ("g1", "members: several user objects have mail 'a@x'; none is used"),
        ("u3", "boss: several user objects have mail 'a@x'; none is used"),
    ]


async def test_a_reference_to_an_object_whose_record_failed_keeps_the_value_it_had(
    tmp_path: Path,
) -> None:
    # u1's new mail fails its transformation: its object keeps its old one, which the
    # source no longer names; so the new one names nothing, and u3's manager and g1's
    # member u1 stay as they are (reported), not cleared or removed for u1's failure.
    the_job = referring(tmp_path, u1_mail="ada@x")
    mail = FieldMap(to="mail", transform={"map": {"b@x": "b@x", "c@x": "c@x"}})
    users = msgspec.structs.replace(USERS, fields=[USERS.fields[0], mail, USERS.fields[2]])
    the_job = msgspec.structs.replace(the_job, objects=[users, GROUPS])
    planned = await plan(tmp_path, the_job)
    assert [c for c in planned.plan.changes if c.phase == "references"] == []
    assert sorted((e.key, e.action) for e in planned.record_errors) == [
        ("g1", "resolve"),
        ("u1", "map"),
        ("u3", "resolve"),
    ]


async def test_values_that_resolve_are_added_beside_one_that_does_not(tmp_path: Path) -> None:
    # g1 gains u2 (found) while naming one mail that finds nothing: u2 is added, no
    # member is removed.
    the_job = referring(tmp_path)
    with sqlite3.connect(tmp_path / "hr.db") as db:
        db.execute("UPDATE hr_groups SET members = 'b@x|nobody@x|c@x'")
    db.close()
    planned = await plan(tmp_path, the_job)
    [change] = [c for c in planned.plan.changes if c.phase == "references"]
    # (a table's column holds the list: written whole)
    assert (change.key, change.set) == ("g1", {"members": ["u1", "u3", "u2"]})
    assert [(e.key, e.action) for e in planned.record_errors] == [("g1", "resolve")]
