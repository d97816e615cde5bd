"""Scripts as transformations: what they return, and what happens when they fail."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from services.runner.engine.context import MappingContext
from services.runner.engine.scripts import RecordSkipped
from services.runner.engine.transforms import compile_transform
from services.runner.engine.transforms_base import RecordFailed, TransformError

CONTEXT = MappingContext(
    job_id="j", run_id="r", now=datetime(2026, 1, 1, tzinfo=UTC), environment={}
)
PERSON = {"first_name": "Ada", "last_name": "Lovelace", "department": "Research"}


def step(target: str):  # type: ignore[no-untyped-def]
    return compile_transform({"script": target}, "$.objects[0].fields[1].transform", CONTEXT)


def test_a_script_returns_the_value() -> None:
    assert step("tests.plugins.scripted:login")(None, PERSON) == "ada.lovelace"


def test_a_script_skips_a_record_with_its_reason() -> None:
    with pytest.raises(RecordSkipped, match="by hand"):
        step("tests.plugins.scripted:login")(None, {**PERSON, "department": "Legal"})


@pytest.mark.parametrize(
    ("target", "expected"),
    [
        ("tests.plugins.scripted:broken", "broken failed: 'manager_id'"),
        ("tests.plugins.scripted:numeric", "returned int"),
        ("tests.plugins.scripted:numbers", "returned list, not text, a list of texts"),
    ],
    ids=["raises", "returns-a-number", "returns-a-list-with-a-number"],
)
def test_a_failing_script_fails_that_record(target: str, expected: str) -> None:
    with pytest.raises(RecordFailed, match=expected):
        step(target)(None, PERSON)


@pytest.mark.parametrize(
    ("target", "expected"),
    [
        ("tests.plugins.nowhere:f", "cannot import tests.plugins.nowhere"),
        ("tests.plugins.scripted:absent", "has no function 'absent'"),
        ("no-colon", "package.module:function"),
    ],
    ids=["not-installed", "no-such-function", "malformed"],
)
def test_a_script_that_cannot_be_loaded_is_refused_with_its_path(
    target: str, expected: str
) -> None:
    with pytest.raises(TransformError, match=expected):
        step(target)
