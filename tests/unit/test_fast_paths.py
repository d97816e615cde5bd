"""The quick ways of reading and comparing records give exactly what the plain ways give.

Rows become records a batch at a time (`records_from_rows`), and an update compares the
fields without a policy in one step before looking field by field: for any rows and any
job, the records (their fields in the same order) and the plans (changes, counts, hash,
warnings) are those of the per-cell and per-field ways.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from unittest import mock

from hypothesis import given
from hypothesis import strategies as st

from core.engine import managed_fields, plan
from core.engine.planner import Planner
from schemas.jobs import ObjectMapping
from schemas.values import Record, record_from_cells, records_from_rows
from tests.unit.test_plan_properties import FIELDS, jobs

NAMES = ["employee_id", "mail", "groups", "number", "Note"]
cells = st.one_of(
    st.none(),
    st.sampled_from(["", "x", "X", " x ", "42", "042", "4.20", "-1", "a|b", "|", "a||b", "|a|"]),
    st.text(alphabet="ab|;é ", max_size=6),
)
rows = st.lists(st.lists(cells, min_size=len(NAMES), max_size=len(NAMES)), max_size=12)
delimiters = st.lists(
    st.sampled_from([None, None, "|", ";"]), min_size=len(NAMES), max_size=len(NAMES)
)


@given(rows, delimiters)
def test_rows_read_a_batch_at_a_time_are_the_records_read_cell_by_cell(
    drawn: list[list[str | None]], split: list[str | None]
) -> None:
    one_by_one = [record_from_cells(NAMES, row, split) for row in drawn]
    batched = records_from_rows(NAMES, drawn, split)
    assert batched == one_by_one
    assert [list(record) for record in batched] == [list(record) for record in one_by_one]


@contextmanager
def compared_field_by_field() -> Iterator[None]:
    """Planners that read every key through `match_key` and look at every compared field
    in turn, as before the quick ways."""
    made = Planner.__init__

    def slow(planner: Planner, mapping: ObjectMapping, managed: tuple[str, ...]) -> None:
        made(planner, mapping, managed)
        planner.plain, planner.with_policy = (), planner.compared
        planner.single = None  # every key through match_key

    with mock.patch.object(Planner, "__init__", slow):
        yield


@given(jobs)
def test_the_quick_keys_and_comparison_plan_as_the_slow_ones(
    job: tuple[ObjectMapping, list[Record], list[Record], bool],
) -> None:
    mapping, source, destination, absence = job
    managed = managed_fields(mapping, ["uid", "ou", *FIELDS])
    quick = plan(source, destination, mapping, managed, act_on_absence=absence)
    with compared_field_by_field():
        slow = plan(source, destination, mapping, managed, act_on_absence=absence)
    assert quick == slow
    assert quick.hash == slow.hash


def test_the_field_by_field_planner_is_the_one_compared() -> None:
    """The slow planner of the test above does compare each field (else it proves nothing)."""
    mapping = ObjectMapping(keys=["uid"])
    with compared_field_by_field():
        planner = Planner(mapping, ["uid", "mail"])
    assert planner.plain == () and planner.with_policy == ("uid", "mail")
    assert planner.single is None
    updated = plan([{"uid": "a", "mail": "new"}], [{"uid": "a", "mail": "old"}], mapping, ["mail"])
    assert [c.set for c in updated.changes] == [{"mail": "new"}]
