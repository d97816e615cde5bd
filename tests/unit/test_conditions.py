"""Conditions: `where` filters, leavers' `when` and the `if` transformation share them."""

from __future__ import annotations

from typing import Any

import pytest

from schemas.values import Record
from services.runner.engine.conditions import compile_condition, fields_tested
from services.runner.engine.transforms_base import TransformError

ADA: Record = {"status": "Terminated", "dept": "Sales", "groups": ["staff", "vpn"], "end": ""}


@pytest.mark.parametrize(
    ("spec", "holds"),
    [
        ({"field": "status", "equals": "Terminated"}, True),
        ({"field": "status", "equals": ["Active", "On leave"]}, False),
        ({"field": "status", "equals": "terminated", "ignore_case": True}, True),
        ({"field": "dept", "matches": "^Sal"}, True),
        ({"field": "groups", "equals": "vpn"}, True),  # any of its values
        ({"field": "end", "empty": True}, True),
        ({"field": "missing", "empty": False}, False),
        ({"not": {"field": "status", "equals": "Active"}}, True),
        ({"all": [{"field": "dept", "equals": "Sales"}, {"field": "end", "empty": True}]}, True),
        ({"any": [{"field": "dept", "equals": "IT"}, {"field": "groups", "equals": "x"}]}, False),
    ],
)
def test_a_condition_holds_as_written(spec: dict[str, Any], holds: bool) -> None:
    assert compile_condition(spec, "$.source.where", "where")(None, ADA) is holds


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        ("Status = x", 'where needs a condition such as { field = "Status"'),
        ({"equals": "x"}, "where needs the source field it tests"),
        ({"field": "s", "equals": "x", "matches": "y"}, "needs exactly one of matches"),
        ({"field": "s", "matches": "("}, "needs a valid regular expression"),
        ({"field": "s", "equal": "x"}, 'has no option "equal"'),
        ({"all": [], "field": "s"}, "takes all alone in its table"),
        ({"any": {"field": "s"}}, "needs any as a list of conditions"),
    ],
)
def test_a_condition_written_wrongly_says_what_to_fix(spec: object, message: str) -> None:
    with pytest.raises(TransformError, match=r"^\$\.source\.where") as refused:
        compile_condition(spec, "$.source.where", "where")
    assert message in str(refused.value)


def test_the_fields_a_condition_names_are_listed() -> None:
    spec = {"all": [{"field": "a", "empty": True}, {"not": {"field": "b", "equals": "x"}}]}
    assert list(fields_tested(spec)) == ["a", "b"]
