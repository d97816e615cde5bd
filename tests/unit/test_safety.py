"""Safety limits: which plans wait for approval, and the reason people read."""

from __future__ import annotations

import pytest

from core.engine import Plan, TypeRecords, assess, assess_types, limit, plan
from schemas.jobs import ObjectMapping, Safety
from schemas.plan import Change, PlanCounts
from schemas.values import Record

FIVE_PERCENT = Safety(max_count=500, max_percent=5.0)
DESTINATION: list[Record] = [{"uid": f"u{n:04}"} for n in range(1000)]
DELETE = ObjectMapping(keys=["uid"], on_destination_only="delete")


def planned(absent: int, *, mapping: ObjectMapping = DELETE, scoped: bool = False) -> PlanCounts:
    """The counts of a real plan over 1,000 destination objects, `absent` of them gone."""
    source = DESTINATION[absent:]
    return plan(source, DESTINATION, mapping, ("uid",), act_on_absence=not scoped).counts


def test_fifty_one_absent_of_a_thousand_at_five_percent_wait() -> None:
    counts = planned(51)
    assert counts.delete == 51
    reason = assess(counts, 949, 1000, FIVE_PERCENT, full_scope=True)
    assert reason == "51 deletes exceed the limit of 50 (5% of 1,000 objects)"


@pytest.mark.parametrize("absent", [0, 1, 49, 50])
def test_up_to_the_limit_runs(absent: int) -> None:
    assert assess(planned(absent), 1000 - absent, 1000, FIVE_PERCENT, full_scope=True) is None


def test_an_empty_source_waits() -> None:
    counts = planned(1000)
    reason = assess(counts, 0, 1000, FIVE_PERCENT, full_scope=True)
    assert reason == (
        "the source returned no records while the destination holds 1,000 objects; "
        "1,000 deletes exceed the limit of 50 (5% of 1,000 objects)"
    )


def test_allow_lets_an_empty_source_through_but_not_past_the_limits() -> None:
    allow = Safety(max_count=1000, max_percent=100.0, empty_source="allow")
    assert assess(planned(1000), 0, 1000, allow, full_scope=True) is None
    allow_fewer = Safety(max_count=999, max_percent=100.0, empty_source="allow")
    reason = assess(planned(1000), 0, 1000, allow_fewer, full_scope=True)
    assert reason == "1,000 deletes exceed the limit of 999 (the job's safety.max_count)"
    wait = Safety(max_count=5000, max_percent=100.0)
    reason = assess(PlanCounts(), 0, 1000, wait, full_scope=True)
    assert reason == "the source returned no records while the destination holds 1,000 objects"


def test_an_empty_source_and_an_empty_destination_run() -> None:
    assert assess(PlanCounts(), 0, 0, FIVE_PERCENT, full_scope=True) is None


@pytest.mark.parametrize("mapping_action", ["delete", "disable", "move"])
def test_a_key_scoped_run_never_waits_for_absence(mapping_action: str) -> None:
    mapping = ObjectMapping(keys=["uid"], on_destination_only=mapping_action)  # type: ignore[arg-type]
    counts = planned(1000, mapping=mapping, scoped=True)
    assert counts.changes == 0
    assert assess(counts, 0, 1000, FIVE_PERCENT, full_scope=False) is None


@pytest.mark.parametrize(
    ("counts", "expected"),
    [
        pytest.param(PlanCounts(disable=51), "51 disables exceed the limit of 50", id="disables"),
        pytest.param(PlanCounts(move=60), "60 moves exceed the limit of 50", id="moves"),
        pytest.param(PlanCounts(delete=50, disable=50, move=50), None, id="each-on-its-own"),
        pytest.param(PlanCounts(create=900, update=900), None, id="creates-updates-unlimited"),
    ],
)
def test_each_action_has_its_own_limit(counts: PlanCounts, expected: str | None) -> None:
    reason = assess(counts, 1000, 1000, FIVE_PERCENT, full_scope=True)
    assert (reason or "").startswith(expected or "") and (reason is None) == (expected is None)


def test_the_count_limit_when_it_is_smaller() -> None:
    reason = assess(PlanCounts(delete=21), 10, 10_000, Safety(max_count=20), full_scope=True)
    assert reason == "21 deletes exceed the limit of 20 (the job's safety.max_count)"


def test_one_is_singular() -> None:
    reason = assess(PlanCounts(delete=1), 1, 1, Safety(), full_scope=True)
    assert reason == "1 delete exceeds the limit of 0 (10% of 1 object)"


def test_one_delete_of_eight_runs_below_the_floor() -> None:
    counts = PlanCounts(delete=1, disable=3, move=2)
    assert assess(counts, 7, 8, Safety(), full_scope=True) is None
    reason = assess(PlanCounts(delete=4), 4, 8, Safety(), full_scope=True)
    assert reason == "4 deletes exceed the limit of 3 (the job's safety.min_count)"


def test_the_floor_never_allows_more_than_half() -> None:
    reason = assess(PlanCounts(delete=3), 2, 5, Safety(), full_scope=True)
    assert reason == "3 deletes exceed the limit of 2 (safety.min_count, at most half of 5 objects)"
    assert assess(PlanCounts(delete=2), 3, 5, Safety(), full_scope=True) is None
    reason = assess(PlanCounts(delete=2), 1, 2, Safety(), full_scope=True)
    assert reason == "2 deletes exceed the limit of 1 (safety.min_count, at most half of 2 objects)"


def test_the_floor_can_be_turned_off_and_max_count_caps_it() -> None:
    reason = assess(PlanCounts(delete=1), 7, 8, Safety(min_count=0), full_scope=True)
    assert reason == "1 delete exceeds the limit of 0 (10% of 8 objects)"
    reason = assess(PlanCounts(delete=1), 7, 8, Safety(max_count=0), full_scope=True)
    assert reason == "1 delete exceeds the limit of 0 (the job's safety.max_count)"


@pytest.mark.parametrize(
    ("safety", "destination", "expected"),
    [
        (Safety(max_count=500, max_percent=5.0), 1000, 50),
        (Safety(), 1000, 100),  # defaults: 500 and 10%
        (Safety(), 100_000, 500),
        (Safety(max_percent=0.1, min_count=0), 1000, 1),  # exact: 0.1% of 1,000 is 1, not 0.99…
        (Safety(max_percent=2.5), 999, 24),  # rounded down
        (Safety(max_percent=7.0), 100, 7),
        (Safety(), 0, 0),
        (Safety(max_count=-1), 1000, 0),
        (Safety(), 8, 3),  # the floor: min_count (3) where 10% is less
        (Safety(), 5, 2),  # ... but never more than half
        (Safety(), 1, 0),
        (Safety(), 30, 3),
        (Safety(min_count=5), 40, 5),
        (Safety(min_count=5, max_count=4), 40, 4),  # max_count is the ceiling
        (Safety(min_count=0), 9, 0),
    ],
)
def test_limit(safety: Safety, destination: int, expected: int) -> None:
    assert limit(safety, destination) == expected


def _deletes(object_type: str, count: int) -> list[Change]:
    return [
        Change(action="delete", key=f"{n}", match={"id": f"{n}"}, object_type=object_type)
        for n in range(count)
    ]


def deleting(changes: list[Change]) -> Plan:
    """A plan of these deletes (of several types), counted as a plan counts them."""
    return Plan(changes=changes, counts=PlanCounts(delete=len(changes)), hash="")


def test_each_type_is_judged_as_a_job_of_that_type_alone() -> None:
    """100 of 100 groups deleted beside 10,000 users: within 5% of every object, yet each
    type is held to its own limit; a type whose source is empty waits though another's
    is not."""
    safety = Safety(max_percent=5, max_count=1_000)
    changes = _deletes("group", 100)
    the_plan = deleting(changes)
    types = [TypeRecords("user", 10_000, 10_000), TypeRecords("group", 0, 100)]
    assert assess(the_plan.counts, 10_000, 10_100, safety, full_scope=True) is None
    assert assess_types(the_plan, types, safety, full_scope=True) == (
        "group: the source returned no records while the destination holds 100 objects; "
        "100 deletes exceed the limit of 5 (5% of 100 objects)"
    )
    some = deleting(_deletes("group", 5) + _deletes("user", 500))
    types = [TypeRecords("user", 9_500, 10_000), TypeRecords("group", 95, 100)]
    assert assess_types(some, types, safety, full_scope=True) is None
    more = deleting(_deletes("group", 5) + _deletes("user", 501))
    assert assess_types(more, types, safety, full_scope=True) == (
        "user: 501 deletes exceed the limit of 500 (5% of 10,000 objects)"
    )


def test_a_job_of_one_type_is_judged_as_before() -> None:
    safety = Safety(max_percent=5)
    the_plan = deleting(_deletes("user", 51))
    one = [TypeRecords("user", 949, 1_000)]
    assert assess_types(the_plan, one, safety, full_scope=True) == assess(
        the_plan.counts, 949, 1_000, safety, full_scope=True
    )
