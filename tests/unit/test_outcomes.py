"""Statistics by record (services/runner/outcomes.py): whatever the batches a record's
changes are in, the order they are applied in and which of them fail, each record
counts once — failed if planning found an error in it or any change failed, else what
its own change did."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from schemas.plan import Action, Change, PlanCounts, RecordError, RunStats
from schemas.work import WorkBatch
from services.runner.outcomes import (
    InBatches,
    Ledger,
    count_batch,
    planned_stats,
    shared_records,
)


def change(key: str, action: Action = "create", *, follow_up: bool = False) -> Change:
    return Change(
        action=action,
        key=key,
        match={"id": key},
        phase="references" if follow_up else "",
        follow_up=follow_up,
    )


def resolve_error(key: str, *, skipped: bool = False) -> RecordError:
    return RecordError(
        key=key, action="resolve", message="manager: no user", object_type="user", skipped=skipped
    )


def apply(
    phases: list[list[list[Change]]],
    errors: list[RecordError],
    failing: set[tuple[int, int]],
    order: list[int],
) -> tuple[RunStats, list[RunStats]]:
    """Apply the batches in `order` (numbers from 1); (number, place) in `failing` fail.
    The run's applied statistics, and what they were after each batch."""
    batches = [batch for batches in phases for batch in batches]
    shared, ledger_data = shared_records(InBatches(batches), errors)
    ledger, done, applied, steps = Ledger(ledger_data), set[int](), RunStats(), []
    for number in order:
        changes = batches[number - 1]
        batch = WorkBatch(
            run_id="r",
            job_id="j",
            plan_hash="h",
            phase=0,
            number=number,
            changes=changes,
            shared=shared.get(number, []),
        )
        outcomes = ["no" if (number, at) in failing else None for at in range(len(changes))]
        applied = applied.add(count_batch(batch, outcomes, ledger, done))
        done.add(number)
        steps.append(applied)
    return applied, steps


def test_a_create_and_its_reference_update_that_both_fail_count_once() -> None:
    phases = [[[change("ada"), change("bob")]], [[change("ada", "update", follow_up=True)]]]
    applied, _ = apply(phases, [], failing={(1, 0), (2, 0)}, order=[1, 2])
    assert (applied.created, applied.failed) == (1, 1)


def test_a_create_whose_reference_update_fails_is_failed_not_created() -> None:
    phases = [[[change("ada")]], [[change("ada", "update", follow_up=True)]]]
    _, steps = apply(phases, [], failing={(2, 0)}, order=[1, 2])
    assert [(s.created, s.failed) for s in steps] == [(1, 0), (0, 1)]


def test_parts_of_one_update_in_two_batches_count_once_in_either_order() -> None:
    parts = [[change("group", "update")], [change("group", "update", follow_up=True)]]
    for order in ([1, 2], [2, 1]):
        for failing in (set(), {(1, 0)}, {(2, 0)}, {(1, 0), (2, 0)}):
            applied, _ = apply([parts], [], failing, order)
            expected = (0, 1) if failing else (1, 0)
            assert (applied.updated, applied.failed) == expected, (order, failing)


def test_the_changes_of_a_record_that_failed_in_planning_count_nothing() -> None:
    phases = [[[change("ada"), change("bob")]]]
    applied, _ = apply(phases, [resolve_error("ada"), resolve_error("ada")], set(), [1])
    assert (applied.created, applied.failed) == (1, 0)  # bob; ada is counted by the plan
    planned = planned_stats(phases[0][0], [resolve_error("ada")], PlanCounts(create=2), 2)
    assert planned.failed == 1


def test_a_restored_and_updated_object_counts_as_restored() -> None:
    phases = [[[change("ada", "update"), change("ada", "enable")]]]
    applied, _ = apply(phases, [], set(), [1])
    assert (applied.enabled, applied.updated) == (1, 0)


def test_planning_counts_records_not_errors() -> None:
    errors = [
        resolve_error("kept"),  # nothing else to change: the plan counted it unchanged
        resolve_error("kept"),
        resolve_error("group"),
        resolve_error("group", skipped=True),  # if_none = "skip": the plan counted it skipped
        RecordError(key="E1", action="map", message='dept: map has no entry for "Mars"'),
        RecordError(key="E2", action="skip", message="skipped by the script"),
    ]
    counts = PlanCounts(unchanged=3, skipped=1)
    stats = planned_stats([], errors, counts, read=6)
    assert stats == RunStats(read=6, unchanged=2, skipped=2, failed=2)


def test_a_plan_of_plain_changes_shares_no_record() -> None:
    phases = [[[change(f"k{n}") for n in range(3)], [change("k3", "update")]]]
    assert shared_records(InBatches([b for bs in phases for b in bs]), []) == ({}, b"")


@st.composite
def plans(draw: st.DrawFn) -> tuple[list[list[list[Change]]], list[RecordError], set[str]]:
    """Records with one to three changes (an own one, then follow-ups), dealt into batches
    at random, some with a planning error; the keys of those."""
    records = draw(st.integers(1, 8))
    changes: list[Change] = []
    for n in range(records):
        own: Action = draw(st.sampled_from(["create", "update", "delete"]))
        changes.append(change(f"r{n}", own))
        for _ in range(draw(st.integers(0, 2))):
            changes.append(change(f"r{n}", "update", follow_up=True))
    count = draw(st.integers(1, 4))
    batches: list[list[Change]] = [[] for _ in range(count)]
    for item in changes:
        batches[draw(st.integers(0, count - 1))].append(item)
    failed = {f"r{n}" for n in range(records) if draw(st.booleans()) and draw(st.booleans())}
    errors = [resolve_error(key) for key in sorted(failed)]
    return [batches], errors, failed


@settings(max_examples=300, deadline=None)
@given(plans(), st.data())
def test_each_record_counts_once_whatever_fails_and_in_whatever_order(
    plan: tuple[list[list[list[Change]]], list[RecordError], set[str]], data: st.DataObject
) -> None:
    phases, errors, failed_in_planning = plan
    batches = phases[0]
    places = [(n + 1, at) for n, batch in enumerate(batches) for at in range(len(batch))]
    failing = set(data.draw(st.lists(st.sampled_from(places), unique=True)))
    order = data.draw(st.permutations(range(1, len(batches) + 1)))
    applied, steps = apply(phases, errors, failing, order)

    failed = set(failed_in_planning)
    for number, at in failing:
        failed.add(batches[number - 1][at].key)
    own = {c.key: c.action for batch in batches for c in batch if not c.follow_up}
    expected = RunStats(
        created=sum(a == "create" for k, a in own.items() if k not in failed),
        updated=sum(a == "update" for k, a in own.items() if k not in failed),
        deleted=sum(a == "delete" for k, a in own.items() if k not in failed),
        failed=len(failed - failed_in_planning),
    )
    assert applied == expected
    assert all(min(getattr(s, f) for f in s.__struct_fields__) >= 0 for s in steps)
