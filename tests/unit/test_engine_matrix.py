"""The engine's features in every shape of job — one object type, several, in little
memory, scoped to keys, incremental —, planned in process as `job preview` and the run
plan them (`plan_job`), over days of a controlled clock: what a run plans, what the
runner remembers of it (absences.py), and what the next run plans."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from typing import Any, cast

import msgspec
import pytest

from core.engine import apply_to
from core.engine.keys import match_key
from core.engine.lifecycle import Lifecycle, has_lifecycle, taken_away
from schemas.jobs import Changes, Endpoint, Job, ObjectMapping
from schemas.values import Record
from services.providers.base import Provider
from services.runner.planning import PlannedRun, Sides, plan_job
from services.runner.planning.reading import Reading

from .test_lean_shapes import Destination, Source

DAY0 = datetime(2026, 12, 1, 6, 0, tzinfo=UTC)
SHAPES = ["one type", "two types", "little memory", "scoped to keys", "incremental"]
GROUPS: dict[str, Any] = {
    "type": "group",
    "keys": ["gid"],
    "on_destination_only": "delete",
    "fields": [{"to": "gid"}, {"to": "name"}],
}
GROUP: Record = {"gid": "staff", "name": "Staff"}


def planned(
    shape: str,
    users: dict[str, Any],
    source: list[Record],
    destination: list[Record],
    absent: dict[str, datetime],
    day: int,
    keys: list[str] | None = None,
) -> PlannedRun:
    """The plan of a run of a job of `users` (and of groups, in a job of two types) in
    `shape`, on day `day`, with the absences the runner kept."""
    objects = [msgspec.convert(users, ObjectMapping)]
    if shape == "two types":
        objects.append(msgspec.convert(GROUPS, ObjectMapping))
    incremental = shape == "incremental"
    job = Job(
        id="hr",
        source=Endpoint(connection="src"),
        destination=Endpoint(connection="dst"),
        objects=objects,
        changes=Changes() if incremental else None,
    )
    after = timedelta(days=30) if objects[0].delete_after else None
    now = DAY0 + timedelta(days=day)
    lifecycles = {}
    if has_lifecycle(objects[0]):
        lifecycles["user"] = Lifecycle(absent_since=dict(absent), now=now, delete_after=after)
    reading = Reading(incremental, "t" if incremental else None, lifecycles)
    lean = shape == "little memory"
    pairs = [
        (Source(source, source), Destination(destination, lean, False)),
        (Source([GROUP], []), Destination([GROUP], False, False)),
    ][: len(objects)]
    sides = Sides(
        cast(Provider, pairs[0][0]),
        cast(Provider, pairs[0][1]),
        [(cast(Provider, s), cast(Provider, d)) for s, d in pairs[1:]],
    )
    if shape == "scoped to keys" and keys is None:
        keys = [str(record["id"]) for record in source]
    return asyncio.run(plan_job(job, sides, keys, reading=reading))


def remembered(
    users: dict[str, Any], run: PlannedRun, absent: dict[str, datetime], day: int
) -> dict[str, datetime]:
    """The absences after the run, as the runner keeps them (absences.py): those that
    ended as it was planned forgotten, then each disable or move applied marked — its
    first date kept."""
    mapping = msgspec.convert(users, ObjectMapping)
    kept = {k: v for k, v in absent.items() if k not in run.plan.returned.get("user", [])}
    for change in run.plan.changes:
        key = match_key(change.match, mapping.keys, mapping.case_insensitive)
        if change.object_type != "user" or key is None:
            continue
        if taken_away(mapping, change):
            kept.setdefault(key, DAY0 + timedelta(days=day))
        elif change.action in ("delete", "enable"):
            kept.pop(key, None)
    return kept


def user_changes(run: PlannedRun) -> list[tuple[str, str]]:
    return [(c.action, c.key) for c in run.plan.changes if c.object_type == "user"]


@pytest.mark.parametrize("shape", SHAPES)
def test_a_leaver_created_anew_waits_delete_after_from_its_own_disable(shape: str) -> None:
    """E7 was disabled for absence 40 days ago, then deleted by hand; HR lists E7 again,
    as a leaver. The job creates new leavers: E7 is created and disabled — and its days
    count from this disable, not from the old object's: the next run leaves it alone
    (it deleted it, 30 days after the old absence)."""
    users: dict[str, Any] = {
        "type": "user",
        "keys": ["id"],
        "on_destination_only": "disable",
        "delete_after": "30d",
        "leavers": {"when": {"field": "status", "equals": "gone"}, "new": "create"},
        "fields": [{"to": "id"}, {"to": "name"}],
    }
    source: list[Record] = [{"id": "E7", "name": "Ann", "status": "gone"}]
    absent = {"E7": DAY0 - timedelta(days=40)}
    first = planned(shape, users, source, [], absent, day=0)
    assert user_changes(first) == [("create", "E7"), ("disable", "E7")]
    absent = remembered(users, first, absent, day=0)
    assert absent == {"E7": DAY0}
    destination = apply_to([], first.plan.changes, ["id"], False)
    for day in (1, 29):
        again = planned(shape, users, source, destination, absent, day=day)
        assert user_changes(again) == [], f"day {day}"
    assert user_changes(planned("one type", users, source, destination, absent, 30)) == [
        ("delete", "E7")
    ]
