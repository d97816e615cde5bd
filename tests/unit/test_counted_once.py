"""A record counts once in a plan's counts (and so in a run's statistics, which take the
plan's unchanged and skipped): an object brought back (restored) or moved to the
container its record names, and otherwise as it was, is restored or moved — not also
unchanged or skipped."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Literal

import pytest

from core.engine.lifecycle import Lifecycle
from core.engine.objects import ObjectType, plan_objects
from core.engine.plan import plan
from schemas.jobs import FieldMap, ObjectMapping, Resolve
from schemas.plan import PlanCounts
from schemas.values import Record

NOW = datetime(2026, 6, 1, tzinfo=UTC)
FIELDS = [FieldMap(to="uid"), FieldMap(to="cn")]
BACK = Lifecycle(absent_since={"ada": NOW - timedelta(days=3)}, now=NOW)


def records(counts: PlanCounts) -> int:
    """How many records the counts account for, each change counted once."""
    return sum(getattr(counts, name) for name in PlanCounts.__struct_fields__)


@pytest.mark.parametrize("on_both", ["update", "skip"])
@pytest.mark.parametrize(
    "way",
    [{"on_destination_only": "disable"}, {"on_destination_only": "move", "move_to": "ou=gone"}],
    ids=["enabled", "moved back"],
)
def test_an_object_restored_as_it_was_counts_once(
    way: dict[str, str], on_both: Literal["update", "skip"]
) -> None:
    kind = ObjectMapping(
        type="user",
        keys=["uid"],
        fields=FIELDS,
        restore=True,
        on_both=on_both,
        **way,  # type: ignore[arg-type]
    )
    ada: Record = {"uid": "ada", "cn": "Ada"}
    planned = plan([ada], [dict(ada)], kind, ["cn"], lifecycle=BACK)
    assert len(planned.changes) == 1
    assert (planned.counts.unchanged, planned.counts.skipped) == (0, 0)
    assert records(planned.counts) == 1


def test_an_object_moved_to_the_container_its_record_names_counts_once() -> None:
    kind = ObjectMapping(type="user", keys=["uid"], fields=FIELDS, container_from="ou")
    ada = {"uid": "ada", "cn": "Ada"}
    planned = plan([{**ada, "@container": "ou=b"}], [{**ada, "@container": "ou=a"}], kind, ["cn"])
    assert [c.action for c in planned.changes] == ["move"]
    assert planned.counts.unchanged == 0 and records(planned.counts) == 1


def test_an_object_restored_whose_manager_changes_counts_once() -> None:
    manager = FieldMap(to="manager", resolve=Resolve(type="user", by="uid"))
    kind = ObjectMapping(
        type="user",
        keys=["uid"],
        fields=[*FIELDS, manager],
        restore=True,
        on_destination_only="disable",
    )
    there: list[Record] = [{"uid": "ada", "cn": "Ada"}, {"uid": "bob", "cn": "Bob"}]
    source: list[Record] = [
        {"uid": "ada", "cn": "Ada", "manager": "bob"},
        {"uid": "bob", "cn": "Bob"},
    ]
    users = ObjectType(kind, source, there, ["cn", "manager"], lifecycle=BACK)
    planned, errors = plan_objects([users])
    assert errors == []
    assert sorted((c.key, c.action, c.follow_up) for c in planned.changes) == [
        ("ada", "enable", False),
        ("ada", "update", True),  # counted with the restore
    ]
    assert (planned.counts.enable, planned.counts.update, planned.counts.unchanged) == (1, 0, 1)
    assert records(planned.counts) == 2
