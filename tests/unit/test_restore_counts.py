"""An object back in the source after a disable or a move for absence, with nothing else
to change, counts once in the plan: as restored (enabled or moved back), not also as
unchanged — so the run's statistics add up to the records it read."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from core.engine import plan
from core.engine.lifecycle import Lifecycle
from core.engine.objects import ObjectType, plan_objects
from schemas.jobs import FieldMap, ObjectMapping
from schemas.plan import PlanCounts
from schemas.values import Record

DAY0 = datetime(2026, 11, 1, 6, 0, tzinfo=UTC)
ALICE: Record = {"uid": "alice", "mail": "alice@example.org"}
BOB: Record = {"uid": "bob", "mail": "bob@example.org"}
BACK = Lifecycle(absent_since={"bob": DAY0}, now=DAY0 + timedelta(days=3), delete_after=None)


def counts(**options: object) -> PlanCounts:
    settings: dict[str, object] = {
        "keys": ["uid"],
        "fields": [FieldMap(to="uid"), FieldMap(to="mail")],
        "restore": True,
        **options,
    }
    mapping = ObjectMapping(**settings)  # type: ignore[arg-type]
    return plan([ALICE, BOB], [ALICE, BOB], mapping, ("uid", "mail"), lifecycle=BACK).counts


def test_moved_back_with_nothing_else_to_change_is_not_also_unchanged() -> None:
    moved = counts(on_destination_only="move", move_to="ou=Former", container="ou=People")
    assert (moved.move, moved.unchanged) == (1, 1), "bob moved back, alice unchanged"


def test_enabled_again_with_nothing_else_to_change_is_not_also_unchanged() -> None:
    enabled = counts(on_destination_only="disable")
    assert (enabled.enable, enabled.unchanged) == (1, 1), "bob enabled, alice unchanged"


def test_restored_while_updates_are_skipped_is_not_also_skipped() -> None:
    enabled = counts(on_destination_only="disable", on_both="skip")
    assert (enabled.enable, enabled.skipped) == (1, 1), "bob enabled, alice skipped"


def test_restored_and_updated_counts_as_restored_alone() -> None:
    changed = {**BOB, "mail": "robert@example.org"}
    mapping = ObjectMapping(
        keys=["uid"],
        fields=[FieldMap(to="uid"), FieldMap(to="mail")],
        restore=True,
        on_destination_only="disable",
    )
    the_plan = plan([ALICE, changed], [ALICE, BOB], mapping, ("uid", "mail"), lifecycle=BACK)
    assert [(c.action, c.key) for c in the_plan.changes] == [("update", "bob"), ("enable", "bob")]
    counts = the_plan.counts
    assert (counts.enable, counts.update, counts.unchanged) == (1, 0, 1), (
        "bob is enabled (and updated): one object, counted once as the run counts it"
    )


def test_restored_and_updated_counts_alike_in_a_job_of_two_types() -> None:
    changed = {**BOB, "mail": "robert@example.org"}
    mapping = ObjectMapping(
        keys=["uid"],
        fields=[FieldMap(to="uid"), FieldMap(to="mail")],
        restore=True,
        on_destination_only="disable",
    )
    groups = ObjectMapping(type="group", keys=["cn"], fields=[FieldMap(to="cn")])
    users = ObjectType(mapping, [ALICE, changed], [ALICE, BOB], ("uid", "mail"), lifecycle=BACK)
    team: Record = {"cn": "team"}
    both, _ = plan_objects([users, ObjectType(groups, [team], [team], ("cn",))])
    counts = both.counts
    assert (counts.enable, counts.update, counts.unchanged) == (1, 0, 2), (
        "bob enabled (and updated) once; alice and the team unchanged"
    )
