"""The deprovisioning lifecycle over simulated days: the clock is a parameter, never slept."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from core.engine import apply_to, plan
from core.engine.lifecycle import Lifecycle
from schemas.jobs import FieldMap, ObjectMapping
from schemas.values import Record

DAY0 = datetime(2026, 11, 1, 6, 0, tzinfo=UTC)
FIELDS = [FieldMap(to="uid"), FieldMap(to="mail")]
MANAGED = ("uid", "mail")
ALICE: Record = {"uid": "alice", "mail": "alice@example.org"}
BOB: Record = {"uid": "bob", "mail": "bob@example.org"}


def mapping(**options: object) -> ObjectMapping:
    settings: dict[str, object] = {
        "keys": ["uid"],
        "fields": FIELDS,
        "on_destination_only": "disable",
        "delete_after": "30d",
        "restore": True,
    }
    return ObjectMapping(**{**settings, **options})  # type: ignore[arg-type]


def day(n: int, absent: dict[str, datetime]) -> Lifecycle:
    return Lifecycle(
        absent_since=absent, now=DAY0 + timedelta(days=n), delete_after=timedelta(days=30)
    )


def actions(
    source: list[Record], destination: list[Record], life: Lifecycle, **options: object
) -> list[tuple[str, str]]:
    the_plan = plan(source, destination, mapping(**options), MANAGED, lifecycle=life)
    return [(c.action, c.key) for c in the_plan.changes]


def test_disabled_on_the_first_day_left_alone_then_deleted_after_thirty_days() -> None:
    destination = [ALICE, BOB]
    absent: dict[str, datetime] = {}
    assert actions([ALICE], destination, day(0, absent)) == [("disable", "bob")]
    absent["bob"] = DAY0  # the runner records it when the disable is applied
    for n in (1, 2, 15, 29):
        the_plan = plan([ALICE], destination, mapping(), MANAGED, lifecycle=day(n, absent))
        assert the_plan.changes == [], f"day {n}: nothing until delete_after has passed"
        assert the_plan.counts.skipped == 1
    assert actions([ALICE], destination, day(30, absent)) == [("delete", "bob")]
    assert actions([ALICE], destination, day(45, absent)) == [("delete", "bob")]


def test_an_object_back_in_the_source_is_enabled_and_updated() -> None:
    absent = {"bob": DAY0}
    back = {**BOB, "mail": "robert@example.org"}
    the_plan = plan([ALICE, back], [ALICE, BOB], mapping(), MANAGED, lifecycle=day(3, absent))
    assert [(c.action, c.key) for c in the_plan.changes] == [("update", "bob"), ("enable", "bob")]
    # Its absence ends when its enable is applied (absences.py), not as the run is planned.
    assert the_plan.counts.enable == 1 and the_plan.returned == {}


def test_an_object_back_whose_object_is_no_more_is_created_and_forgotten() -> None:
    """Disabled for absence, then deleted by someone else: back in the source, it is
    created anew, and its absence ends as the run is planned (else the next run would
    enable the new object, found absent before)."""
    the_plan = plan([ALICE, BOB], [ALICE], mapping(), MANAGED, lifecycle=day(3, {"bob": DAY0}))
    assert [(c.action, c.key) for c in the_plan.changes] == [("create", "bob")]
    assert the_plan.returned == {"user": ["bob"]}


def test_without_restore_a_returning_object_is_only_forgotten() -> None:
    the_plan = plan(
        [ALICE, BOB], [ALICE, BOB], mapping(restore=False), MANAGED, lifecycle=day(3, {"bob": DAY0})
    )
    assert the_plan.changes == [] and the_plan.returned == {"user": ["bob"]}


def test_moved_objects_are_moved_back_where_new_ones_are_created() -> None:
    options = {"on_destination_only": "move", "move_to": "ou=Former", "container": "ou=People"}
    assert actions([ALICE], [ALICE, BOB], day(0, {}), **options) == [("move", "bob")]
    the_plan = plan(
        [ALICE, BOB], [ALICE, BOB], mapping(**options), MANAGED, lifecycle=day(1, {"bob": DAY0})
    )
    [back] = the_plan.changes
    assert (back.action, back.container) == ("move", "ou=People")


def test_disabled_and_moved_objects_are_enabled_and_moved_back() -> None:
    options = {"move_to": "ou=Former", "container": "ou=People"}
    [gone] = plan([ALICE], [ALICE, BOB], mapping(**options), MANAGED, lifecycle=day(0, {})).changes
    assert (gone.action, gone.container) == ("disable", "ou=Former")
    the_plan = plan(
        [ALICE, BOB], [ALICE, BOB], mapping(**options), MANAGED, lifecycle=day(1, {"bob": DAY0})
    )
    assert [(c.action, c.container) for c in the_plan.changes] == [
        ("enable", None),
        ("move", "ou=People"),
    ]


def test_without_delete_after_an_absent_object_stays_disabled() -> None:
    life = Lifecycle(absent_since={"bob": DAY0}, now=DAY0 + timedelta(days=400))
    assert (
        plan([ALICE], [ALICE, BOB], mapping(delete_after=None), MANAGED, lifecycle=life).changes
        == []
    )


def test_a_run_that_cannot_see_absence_neither_disables_nor_deletes() -> None:
    the_plan = plan(
        [ALICE],
        [ALICE, BOB],
        mapping(),
        MANAGED,
        act_on_absence=False,
        lifecycle=day(40, {"bob": DAY0}),
    )
    assert the_plan.changes == [] and the_plan.counts.skipped == 0


def test_the_lifecycle_through_simulated_days_on_a_simulated_destination() -> None:
    """Day by day: applied changes feed the next day's absences, as the runner does."""
    destination = [ALICE, BOB]
    absent: dict[str, datetime] = {}
    seen: list[tuple[int, str, str]] = []
    for n, source in enumerate([[ALICE]] * 31 + [[ALICE]]):
        the_plan = plan(source, destination, mapping(), MANAGED, lifecycle=day(n, absent))
        for change in the_plan.changes:
            seen.append((n, change.action, change.key))
            if change.action == "disable":
                absent.setdefault(change.key, DAY0 + timedelta(days=n))
            if change.action == "delete":
                absent.pop(change.key)
        destination = apply_to(destination, the_plan.changes, mapping().keys, False)
    assert seen == [(0, "disable", "bob"), (30, "delete", "bob")]
    assert destination == [ALICE]
