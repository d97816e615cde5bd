"""Transformations written wrongly are refused with their path; records they cannot
transform fail alone."""

from __future__ import annotations

from typing import Any

import pytest

from schemas.values import Binary, Value
from services.common.errors import BadInput
from services.runner.engine.context import MappingContext
from services.runner.engine.transforms import RecordFailed, TransformError, compile_transform

from .test_transforms import CONTEXT, PATH, RECORD, table

BAD: list[tuple[str, Any, str]] = [
    ("left-not-a-number", {"left": "x"}, 'left needs a whole number length, got "x"'),
    ("left-negative", {"left": -1}, "left needs a whole number length of at least 0, got -1"),
    ("left-bool", {"left": True}, "left needs a whole number length, got true"),
    ("left-bare", "left", "left needs arguments, such as { left = … }"),
    ("unknown-name", "uper", 'unknown transformation "uper" (did you mean "upper"?)'),
    ("unknown-table", {"frobnicate": 1}, "expected a table naming one transformation"),
    ("not-a-spec", 3, "expected a transformation name or table, got 3"),
    ("empty-list", [], "expected a transformation or a list of them, got []"),
    ("unknown-option", {"join": ["a"], "separater": " "}, 'join has no option "separater"'),
    ("two-names", {"upper": True, "lower": True}, "names several transformations (upper, lower)"),
    ("upper-argument", {"upper": "x"}, 'upper takes no arguments: write "upper"'),
    ("trim-empty", {"trim": ""}, "trim needs the characters to remove"),
    ("substring-length", {"substring": 1, "length": "2"}, "substring needs a whole number length"),
    ("replace-empty", {"replace": ""}, "replace needs the text to find"),
    (
        "replace-bad-regex",
        {"replace": "(", "regex": True},
        "replace needs a valid regular expression",
    ),
    (
        "replace-bad-group",
        {"replace": "(a)", "with": "\\2", "regex": True},
        "does not fit the expression: invalid group reference 2",
    ),
    (
        "replace-count",
        {"replace": "a", "count": -1},
        "replace needs a whole number count of at least 0",
    ),
    (
        "replace-regex-flag",
        {"replace": "a", "regex": "yes"},
        'replace needs regex as true or false, got "yes"',
    ),
    ("split-empty", {"split": ""}, "split needs a separator"),
    ("split-nth", {"split": ",", "nth": "first"}, 'split needs a whole number nth, got "first"'),
    ("static-unknown-variable", {"static": "%NOPE%"}, "static has an unknown variable %NOPE%"),
    ("static-not-text", {"static": 3}, "static needs the text to write as text, got 3"),
    (
        "join-no-fields",
        {"join": []},
        "join needs the source fields to join as a list of texts, got []",
    ),
    ("join-separator", {"join": ["a"], "separator": 1}, "join needs separator as text, got 1"),
    ("default-both", {"default": "x", "value": "y"}, "default takes either a text or a list"),
    ("date-no-to", {"date": "%Y"}, 'date needs "to", the format to write'),
    ("date-bad-directive", {"date": "%Y-%Q", "to": "%Y"}, 'date cannot read dates with "%Y-%Q"'),
    ("map-not-table", {"map": ["a"]}, "map needs a table of values"),
    ("map-value", {"map": {"a": 1}}, 'map needs text for "a", got 1'),
    (
        "map-both",
        {"map": {"a": "b"}, "default": "x", "keep_unmapped": True},
        'map takes "default" or "keep_unmapped = true"',
    ),
    ("map-case-clash", {"map": {"a": "1", "A": "2"}, "ignore_case": True}, 'map maps "A" twice'),
    ("if-no-test", {"if": {"field": "x"}, "then": "upper"}, "if needs exactly one of matches"),
    ("if-not-table", {"if": "x", "then": "upper"}, "if needs a condition such as"),
    ("if-bad-regex", {"if": {"matches": "["}, "then": "upper"}, "needs a valid regular expression"),
    ("if-unknown", {"if": {"feld": "x", "empty": True}}, 'if has no option "feld"'),
]


@pytest.mark.parametrize(("spec", "message"), table(BAD))
def test_a_bad_argument_names_the_path_and_what_to_fix(spec: Any, message: str) -> None:
    with pytest.raises(TransformError) as caught:
        compile_transform(spec, PATH, CONTEXT)
    assert isinstance(caught.value, BadInput)  # a person fixes it: the command exits 2
    assert str(caught.value).startswith(PATH)
    assert message in caught.value.problem


def test_a_bad_step_in_a_list_or_branch_names_its_place() -> None:
    with pytest.raises(TransformError, match=r"transform\[1\]: left needs"):
        compile_transform(["upper", {"left": "x"}], PATH, CONTEXT)
    with pytest.raises(TransformError, match=r"transform\.else\[0\]: right needs"):
        compile_transform({"if": {"empty": True}, "else": [{"right": -2}]}, PATH, CONTEXT)
    with pytest.raises(TransformError, match=r"password cannot depend on a condition"):
        compile_transform({"if": {"empty": True}, "then": "password"}, PATH, CONTEXT)
    with pytest.raises(TransformError, match=r"generated alone"):
        compile_transform(["upper", "password"], PATH, CONTEXT)


def test_an_environment_variable_must_be_set_where_the_job_runs() -> None:
    spec = {"static": "%ENV:MISSING%"}
    checking = MappingContext.checking("hr")  # when the job is applied: unknown, accepted
    assert compile_transform(spec, PATH, checking)(None, {}) is None
    with pytest.raises(TransformError, match="%ENV:MISSING%, which is not set"):
        compile_transform(spec, PATH, CONTEXT)


FAILS: list[tuple[str, Any, Value | None, str]] = [
    (
        "date-does-not-parse",
        {"date": "%d.%m.%Y", "to": "%F"},
        "1815-12-10",
        'date "1815-12-10" does not match "%d.%m.%Y"',
    ),
    ("date-impossible-day", {"date": "%Y-%m-%d", "to": "%d"}, "2023-02-29", "does not match"),
    ("date-one-bad-item", {"date": "%Y", "to": "%y"}, ["1999", "soon"], 'date "soon"'),
    ("map-unmapped", {"map": {"S": "Sales"}}, "Q", 'map has no entry for "Q"'),
    ("text-on-binary", "upper", Binary(b"\x89PNG"), "upper needs text, got binary data (4 bytes)"),
    ("split-on-binary", {"split": ","}, Binary(b"x"), "split needs text"),
]


@pytest.mark.parametrize(("spec", "value", "message"), table(FAILS))
def test_a_record_that_cannot_be_transformed_fails_alone(
    spec: Any, value: Value | None, message: str
) -> None:
    step = compile_transform(spec, PATH, CONTEXT)
    with pytest.raises(RecordFailed) as caught:
        step(value, RECORD)
    assert not isinstance(caught.value, BadInput)  # the runner must not end the run on it
    assert message in str(caught.value)
