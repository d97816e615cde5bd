"""A spilled plan's batches cut a batch at a time (`SpilledPlan.column_batch`) are those
cut a change at a time: the same changes in the same batches, numbered and phased alike,
given with the values their creates were planned from, and the same refusal of a change
too large for any batch."""

from __future__ import annotations

from typing import Literal
from unittest import mock

from hypothesis import given, settings
from hypothesis import strategies as st

from core.errors import BadInput
from schemas.jobs import FieldMap, ObjectMapping
from schemas.plan import Change
from schemas.values import Record, Value
from services.runner.planning.spill import Spill, SpilledPlan, order, settle
from services.runner.plans import Batched

MAPPING = ObjectMapping(
    keys=["uid"], fields=[FieldMap(to="uid"), FieldMap(to="mail"), FieldMap(to="groups")]
)
MANAGED = ("uid", "mail", "groups")
ACTIONS: list[Literal["update", "delete", "create"]] = ["update", "delete", "create"]
SHAPES = [("uid", "mail", "groups"), ("uid", "mail"), ("mail", "uid")]

texts = st.text(alphabet="abcé\U0001f600", min_size=1, max_size=40)
lists = st.lists(texts, min_size=1, max_size=3)
# What is added to the spill, in turn: creates planned from columns of a shape, or from
# their records (no values kept: changes of another kind in a batch).
parts = st.tuples(st.booleans(), st.sampled_from(SHAPES), st.integers(min_value=1, max_value=12))


def _value(data: st.DataObject, field: str) -> Value:
    return list(data.draw(lists)) if field == "groups" else data.draw(texts)


def _cuts(batched: Batched, quick: bool) -> list[tuple[int, int, list[bytes]]] | str:
    plan = batched.changes
    assert not isinstance(plan, list)
    try:
        return [
            (phase, number, [data for _, data in entries])
            for phase, number, entries, _ in batched._spilled(plan, quick)  # type: ignore[arg-type]
        ]
    except BadInput as error:
        return str(error)


@settings(max_examples=400)
@given(
    st.lists(parts, max_size=6),
    st.data(),
    st.integers(min_value=0, max_value=4),
    st.integers(min_value=1, max_value=8),
    st.sampled_from([300, 450, 700, 2_000]),
)
def test_batches_cut_at_once_are_those_cut_one_change_at_a_time(
    added: list[tuple[bool, tuple[str, ...], int]],
    data: st.DataObject,
    others: int,
    size: int,
    most_bytes: int,
) -> None:
    spill = Spill(MAPPING, MANAGED)
    serial = 0
    for from_columns, fields, count in added:
        keys = [f"u{serial + at:04d}" for at in range(count)]
        serial += count
        records: list[Record] = [
            {field: key if field == "uid" else _value(data, field) for field in fields}
            for key in keys
        ]
        if from_columns:
            columns: list[list[Value]] = [[record[field] for record in records] for field in fields]
            spill.add_columns(keys, fields, columns)
        else:
            spill.add_all(keys, records)
    planned = sorted(  # changes planned in memory, of other phases, merged in order
        (
            Change(action=action, key=f"o{at}", match={"uid": f"o{at}"}, set={"mail": "m"})
            for at, action in enumerate(ACTIONS * others)
        ),
        key=lambda change: order(change, change.key),
    )
    plan, _ = settle(spill, planned[:others], MAPPING, ())
    with (
        mock.patch("services.runner.plans.MAX_BATCH_BYTES", most_bytes),
        mock.patch("services.runner.plans.COLUMNS_OVERHEAD", 100),
    ):
        batched = Batched(plan, size)
        at_once, one_by_one = _cuts(batched, True), _cuts(batched, False)
        assert at_once == one_by_one
        if isinstance(at_once, list):
            for _, _, entries, values in batched._spilled(plan):
                assert values is None or values == plan.values_of(entries)
            sent = [data for _, data, _ in batched.encoded("r", "j", "h", {})]
            assert len(sent) == len(at_once)
            changes = [entry for _, _, entries in at_once for entry in entries]
            assert changes == list(plan.encoded())


def test_the_batches_compared_are_cut_at_once() -> None:
    """The test above compares something: a first run's creates planned from columns are
    cut a batch at a time (the size of the first of each batch looked at alone), by count
    and by their size as columns."""
    spill = Spill(MAPPING, MANAGED)
    keys = [f"u{at:04d}" for at in range(40)]
    spill.add_columns(keys, ("uid", "mail"), [list[Value](keys), ["m" * 30] * 40])
    plan, _ = settle(spill, [], MAPPING, ())
    looked_at = mock.patch.object(
        SpilledPlan, "column_size", autospec=True, side_effect=SpilledPlan.column_size
    )
    with looked_at as column_size, mock.patch("services.runner.plans.MAX_BATCH_BYTES", 10_000):
        by_count = [len(entries) for _, _, entries, _ in Batched(plan, 7)._spilled(plan)]
    assert by_count == [7, 7, 7, 7, 7, 5]
    assert column_size.call_count == len(by_count)
    with (
        looked_at as column_size,
        mock.patch("services.runner.plans.MAX_BATCH_BYTES", 400),
        mock.patch("services.runner.plans.COLUMNS_OVERHEAD", 100),
    ):
        by_size = [len(entries) for _, _, entries, _ in Batched(plan, 100)._spilled(plan)]
    assert sum(by_size) == 40 and len(set(by_size[:-1])) == 1 and 1 < by_size[0] < 40
    assert column_size.call_count == len(by_size)
