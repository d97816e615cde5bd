"""Keys alike but for case (core/engine/keys.py `folded_key`, `other_cases`): how a job
comparing keys with case finds the objects it must leave alone when they look absent."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from core.engine.keys import folded_key, key_shown, match_key, other_cases
from schemas.values import Record

VALUES = st.text(alphabet=st.sampled_from("aAbB:1 ßSsİi\u0307e\u0301\u00e9É"), min_size=1)


@given(st.lists(VALUES, min_size=1, max_size=3))
def test_a_key_folded_is_the_key_a_job_comparing_without_case_gives(values: list[str]) -> None:
    fields = [f"k{i}" for i in range(len(values))]
    record: Record = dict(zip(fields, values, strict=True))
    with_case = match_key(record, fields, False)
    if with_case is not None:
        assert folded_key(with_case, len(fields)) == match_key(record, fields, True)


def test_an_absent_key_is_paired_with_the_least_source_key_alike_but_for_case() -> None:
    found = other_cases(["Ann", "bob", "É"], ["ann", "ANN", "carl", "bob2", "\u00e9"], 1)
    assert found == {"Ann": "ANN", "É": "\u00e9"}


def test_keys_of_several_fields_are_alike_but_for_case_field_by_field() -> None:
    absent = match_key({"d": "Sales", "u": "ß"}, ["d", "u"], False)
    source = match_key({"d": "sales", "u": "SS"}, ["d", "u"], False)
    assert absent is not None and source is not None
    assert other_cases([absent], [source], 2) == {absent: source}
    assert key_shown(source, 2) == "sales / SS"
