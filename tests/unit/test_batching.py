"""split_batches: bounded, single-phase, order-preserving batches."""

from __future__ import annotations

import msgspec
import pytest

from core.engine import PHASE_OF, Plan, change_size, split_batches
from core.engine.plan import plan_hash
from core.errors import BadInput
from schemas.plan import Action, Change, PlanCounts
from schemas.values import Record


def change(action: Action, key: str, size: int = 0) -> Change:
    values: Record = {"note": "x" * size} if size else {}
    return Change(action=action, key=key, match={"uid": key}, set=values)


def shape(batches: list[list[Change]]) -> list[str]:
    """Each batch as its changes' keys: "a b | c" reads as two batches."""
    return [" ".join(change.key for change in batch) for batch in batches]


SAME_SIZE = [change("create", key) for key in "abcde"]
ONE_SIZE = change_size(SAME_SIZE[0])
MIXED = [
    change("create", "a"),
    change("update", "b"),
    change("move", "c"),
    change("move", "d"),
    change("disable", "e"),
    change("delete", "f"),
]


@pytest.mark.parametrize(
    ("changes", "max_changes", "max_bytes", "expected"),
    [
        pytest.param([], 10, 1000, [], id="no-changes-no-batches"),
        pytest.param(SAME_SIZE, 10, 10_000, ["a b c d e"], id="all-fit"),
        pytest.param(SAME_SIZE, 2, 10_000, ["a b", "c d", "e"], id="by-count"),
        pytest.param(SAME_SIZE, 1, 10_000, ["a", "b", "c", "d", "e"], id="one-each"),
        pytest.param(SAME_SIZE, 10, 2 * ONE_SIZE, ["a b", "c d", "e"], id="by-bytes"),
        pytest.param(SAME_SIZE, 10, 2 * ONE_SIZE - 1, ["a", "b", "c", "d", "e"], id="bytes-tight"),
        pytest.param(SAME_SIZE, 3, 2 * ONE_SIZE, ["a b", "c d", "e"], id="bytes-before-count"),
        pytest.param(MIXED, 10, 10_000, ["a b", "c d", "e", "f"], id="phases-never-mix"),
        pytest.param(
            [change("create", "a"), change("update", "b"), change("create", "c")],
            10,
            10_000,
            ["a b c"],
            id="create-and-update-are-one-phase",
        ),
        pytest.param(
            [change("create", "a", 100), change("create", "b"), change("create", "c", 100)],
            10,
            change_size(change("create", "a", 100)) + ONE_SIZE,
            ["a b", "c"],
            id="uneven-sizes",
        ),
    ],
)
def test_split_batches(
    changes: list[Change], max_changes: int, max_bytes: int, expected: list[str]
) -> None:
    batches = split_batches(changes, max_changes, max_bytes)
    assert shape(batches) == expected
    assert [c for batch in batches for c in batch] == changes
    for batch in batches:
        assert len(batch) <= max_changes
        assert sum(change_size(c) for c in batch) <= max_bytes
        assert len(msgspec.json.encode(batch)) <= max_bytes
        assert len({PHASE_OF[c.action] for c in batch}) == 1


def test_a_change_larger_than_a_batch_names_its_key() -> None:
    big = change("update", "alice", 1000)
    with pytest.raises(BadInput, match="'alice'"):
        split_batches([change("create", "bob"), big], 10, 500)


@pytest.mark.parametrize(
    ("max_changes", "max_bytes"),
    [pytest.param(0, 1000, id="no-changes-allowed"), pytest.param(10, 0, id="no-bytes-allowed")],
)
def test_limits_below_one_are_bad_input(max_changes: int, max_bytes: int) -> None:
    with pytest.raises(BadInput, match="at least 1"):
        split_batches(SAME_SIZE, max_changes, max_bytes)


def test_plan_batches_is_split_batches() -> None:
    the_plan = Plan(changes=MIXED, counts=PlanCounts(), hash=plan_hash(MIXED))
    assert the_plan.batches(1, 10_000) == split_batches(MIXED, 1, 10_000)
