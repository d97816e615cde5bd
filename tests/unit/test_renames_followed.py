"""An object renamed or moved by a run that does not read every record (an incremental
run, a run scoped to keys): the references of the objects it did not read follow the
object's new name, as a whole run's records of them would (references.py
`follow_renames`). Planned through `plan_job`, as a run and its preview plan."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import cast

import msgspec
import pytest

from schemas.jobs import Changes, Endpoint, FieldMap, Job, Leavers, ObjectMapping, Resolve
from schemas.plan import Change
from schemas.values import Record
from services.providers.base import Provider
from services.runner.planning import Sides, plan_job
from services.runner.planning.reading import Reading

from .test_compiled_mapping import Side

PEOPLE = "ou=People,dc=example,dc=org"


class Changed(Side):
    """A source read by its changes: every record with no watermark, else those whose
    `modified` is above it."""

    async def read_changed(
        self, batch_size: int, since: str | None, field: str | None
    ) -> AsyncIterator[list[Record]]:
        yield [r for r in self.records if since is None or str(r["modified"]) > since]

    def watermark(self) -> str | None:
        return max(str(r["modified"]) for r in self.records)


class Directory(Side):
    """A destination naming its entries by `cn` (the people's key is `uid`): a new `cn`
    renames; it adds and removes values of a field."""

    def identifier(self, change: Change) -> str | None:
        return f"cn={change.set.get('cn') or change.match.get('uid')},{PEOPLE}"

    def renamed(self, change: Change, dn: str) -> str | None:
        cn = change.set.get("cn")
        if change.action != "update" or not isinstance(cn, str):
            return None
        return f"cn={cn},{dn.partition(',')[2]}"


USERS = ObjectMapping(type="user", keys=["uid"], fields=[FieldMap(to="uid"), FieldMap(to="cn")])
GROUPS = ObjectMapping(
    type="group",
    keys=["cn"],
    fields=[
        FieldMap(to="cn"),
        FieldMap(to="member", delimiter="|", resolve=Resolve(type="user", by="uid")),
    ],
)
JOB = Job(
    id="people-and-groups",
    source=Endpoint(connection="hr"),
    destination=Endpoint(connection="dir"),
    changes=Changes(field="modified"),
    objects=[USERS, GROUPS],
)


def sides() -> Sides:
    """Ada's `cn` changed since watermark 1 (a rename); Bob's and the team's did not."""
    people: list[Record] = [
        {"uid": "ada", "cn": "Ada L", "modified": "2"},
        {"uid": "bob", "cn": "Bob", "modified": "1"},
    ]
    team: list[Record] = [{"cn": "team", "member": "ada|bob", "modified": "1"}]
    entries: list[Record] = [
        {"uid": uid, "cn": cn, "@id": f"cn={cn},{PEOPLE}"}
        for uid, cn in [("ada", "Ada"), ("bob", "Bob")]
    ]
    groups: list[Record] = [
        {"cn": "team", "member": [f"cn=Ada,{PEOPLE}", f"cn=Bob,{PEOPLE}"], "@id": "cn=team"}
    ]
    users_side = (cast(Provider, Changed(people)), cast(Provider, Directory(entries)))
    groups_side = (cast(Provider, Changed(team)), cast(Provider, Directory(groups)))
    return Sides(*users_side, [groups_side])


Edits = tuple[str, dict[str, list[str]], dict[str, list[str]]]
"""A group's change: its key, the values it adds and those it removes."""


def group_changes(changes: list[Change]) -> list[Edits]:
    return [(c.key, c.add, c.remove) for c in changes if c.object_type == "group"]


async def test_an_incremental_run_renames_the_member_in_groups_that_did_not_change() -> None:
    whole = await plan_job(JOB, sides())
    expected = [("team", {"member": [f"cn=Ada L,{PEOPLE}"]}, {"member": [f"cn=Ada,{PEOPLE}"]})]
    assert group_changes(list(whole.plan.changes)) == expected
    changed = await plan_job(
        JOB, sides(), reading=Reading(incremental=True, since='{"user": "1", "group": "1"}')
    )
    assert changed.incremental
    assert [c.key for c in changed.plan.changes if c.object_type == "user"] == ["ada"]
    assert group_changes(list(changed.plan.changes)) == expected


LEAVING = msgspec.structs.replace(
    USERS,
    fields=[*USERS.fields, FieldMap(to="status")],
    leavers=Leavers(when={"field": "status", "equals": "left"}, action="delete"),
)
LEAVERS_JOB = msgspec.structs.replace(JOB, objects=[LEAVING, GROUPS])


def leaving_sides() -> Sides:
    """Ada has left since watermark 1 (her record says so); Bob and the team did not
    change, the team still names Ada."""
    people: list[Record] = [
        {"uid": "ada", "cn": "Ada", "status": "left", "modified": "2"},
        {"uid": "bob", "cn": "Bob", "status": "here", "modified": "1"},
    ]
    team: list[Record] = [{"cn": "team", "member": "ada|bob", "modified": "1"}]
    entries: list[Record] = [
        {"uid": uid, "cn": cn, "status": "here", "@id": f"cn={cn},{PEOPLE}"}
        for uid, cn in [("ada", "Ada"), ("bob", "Bob")]
    ]
    groups: list[Record] = [
        {"cn": "team", "member": [f"cn=Ada,{PEOPLE}", f"cn=Bob,{PEOPLE}"], "@id": "cn=team"}
    ]
    users_side = (cast(Provider, Changed(people)), cast(Provider, Directory(entries)))
    groups_side = (cast(Provider, Changed(team)), cast(Provider, Directory(groups)))
    return Sides(*users_side, [groups_side])


@pytest.mark.parametrize("shape", ["scoped to her key", "incremental"])
async def test_a_leaver_deleted_leaves_no_member_in_groups_the_run_did_not_read(
    shape: str,
) -> None:
    """A whole run deletes Ada's entry and removes her from the team (a value naming an
    object the run deletes is let go); a run that reads Ada's record alone does both too,
    rather than leave the team naming an entry that is no more."""
    whole = await plan_job(LEAVERS_JOB, leaving_sides())
    expected: list[Edits] = [("team", {}, {"member": [f"cn=Ada,{PEOPLE}"]})]
    assert group_changes(list(whole.plan.changes)) == expected
    if shape == "incremental":
        reading = Reading(incremental=True, since='{"user": "1", "group": "1"}')
        partial = await plan_job(LEAVERS_JOB, leaving_sides(), reading=reading)
    else:
        partial = await plan_job(LEAVERS_JOB, leaving_sides(), keys=["ada"])
    assert [(c.key, c.action) for c in partial.plan.changes if c.object_type == "user"] == [
        ("ada", "delete")
    ]
    assert group_changes(list(partial.plan.changes)) == expected
