"""plan_job over several object types: each type's own sides, one plan in phase order."""

from __future__ import annotations

from typing import cast

from core.engine.phases import phase_of
from schemas.jobs import Endpoint, FieldMap, Job, ObjectMapping, Resolve
from schemas.values import Record
from services.providers.base import Provider
from services.runner.planning import Sides, plan_job

from .test_compiled_mapping import Side

USERS = ObjectMapping(
    type="user",
    keys=["uid"],
    fields=[FieldMap(to="uid"), FieldMap(to="boss", resolve=Resolve(type="user", by="uid"))],
)
GROUPS = ObjectMapping(
    type="group",
    keys=["cn"],
    fields=[
        FieldMap(to="cn"),
        FieldMap(to="members", delimiter="|", resolve=Resolve(type="user", by="uid")),
    ],
)
JOB = Job(
    id="hr",
    source=Endpoint(connection="x"),
    destination=Endpoint(connection="y"),
    objects=[USERS, GROUPS],
)


def side(records: list[Record]) -> Provider:
    return cast(Provider, Side(records))


def sides(users: list[Record], groups: list[Record], existing: list[Record]) -> Sides:
    return Sides(side(users), side(existing), [(side(groups), side([]))])


async def test_every_create_of_every_type_comes_before_any_reference() -> None:
    users: list[Record] = [{"uid": "a", "boss": "b"}, {"uid": "b"}]
    groups: list[Record] = [{"cn": "staff", "members": "a|b|ghost"}]
    planned = await plan_job(JOB, sides(users, groups, []))
    shown = [(phase_of(c), c.object_type, c.key) for c in planned.plan.changes]
    assert shown == [
        ("objects", "group", "staff"),
        ("objects", "user", "a"),
        ("objects", "user", "b"),
        ("references", "group", "staff"),
        ("references", "user", "a"),
    ]
    assert [(e.key, e.action) for e in planned.record_errors] == [("staff", "resolve")]
    assert (planned.source_records, planned.plan.counts.create) == (3, 3)


async def test_a_run_scoped_to_keys_still_resolves_against_every_object() -> None:
    users: list[Record] = [{"uid": "a", "boss": "b"}, {"uid": "b"}]
    existing: list[Record] = [{"uid": "b"}, {"uid": "a"}]
    planned = await plan_job(JOB, sides(users, [], existing), keys=["a"])
    [change] = planned.plan.changes
    assert (change.key, change.set) == ("a", {"boss": "b"})


async def test_a_type_whose_absent_objects_are_left_alone_says_so_before_the_other_types() -> None:
    # Users with 30 keys held twice in the destination (30 warnings, each its own kind);
    # a group whose name became empty in the source: no absent group is deleted. That
    # comes first, so a run's first 20 warnings (and its mail) hold it.
    users = ObjectMapping(type="user", keys=["uid"], fields=[FieldMap(to="uid")])
    groups = ObjectMapping(
        type="group",
        keys=["cn"],
        fields=[FieldMap(to="cn"), FieldMap(to="mail")],
        on_destination_only="delete",
    )
    job = Job(
        id="hr",
        source=Endpoint(connection="x"),
        destination=Endpoint(connection="y"),
        objects=[users, groups],
    )
    twice: list[Record] = [{"uid": f"u{n}"} for n in range(30) for _ in (1, 2)]
    both = Sides(
        side([{"uid": "a"}]),
        side(twice),
        [
            (
                side([{"cn": "staff"}, {"mail": "x@example.org"}]),
                side([{"cn": "staff"}, {"cn": "old"}]),
            )
        ],
    )
    planned = await plan_job(job, both)
    assert planned.plan.counts.delete == 0
    assert planned.plan.warnings[0].startswith(
        "group: 1 source record has values but an empty key (cn): it could be the 1 "
        "destination object missing from the source, so none is deleted in this run"
    )
