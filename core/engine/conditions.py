"""Conditions over a source record: the `if` transformation, a source's `where` filter and
the `when` of leavers. One way to write them, checked once, evaluated per record.

    { field = "Status", equals = "Terminated" }          a text, or a list of texts
    { field = "Department", matches = "^Sales" }         a regular expression, found anywhere
    { field = "EndDate", empty = true }                  no value (false: some value)
    { field = "Status", equals = "active", ignore_case = true }
    { all = [ {…}, {…} ] }   { any = [ {…}, {…} ] }   { not = {…} }

A multi-valued field passes a test when any of its values does. `field` names a source
field; the `if` transformation may leave it out to test the value made so far.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator, Mapping
from typing import Any

from core.words import show
from schemas.values import Record, Value

from .transforms_base import Args, nfc, texts_of

Test = Callable[[Value | None, Record], bool]
"""(the value made so far, the source record) → whether the condition holds."""

_COMBINED = ("all", "any", "not")
_TESTS = ("matches", "equals", "empty")
EXAMPLE = '{ field = "Status", equals = "Terminated" }'


def compile_condition(spec: object, path: str, name: str, *, field_needed: bool = True) -> Test:
    """The condition `name` written at `path`, checked; `TransformError` names what to fix."""
    args = Args(name, {name: None, **spec} if isinstance(spec, dict) else None, path)
    if not isinstance(spec, dict):
        args.fail(f"needs a condition such as {EXAMPLE}, got {show(spec)}")
    combined = [key for key in _COMBINED if key in spec]
    if combined:
        return _combined(args, spec, combined[0], field_needed)
    args.only({"field", *_TESTS, "ignore_case"})
    if field_needed and not args.has("field"):
        args.fail(f"needs the source field it tests, such as {EXAMPLE}")
    field = args.text("field") if args.has("field") else None
    ignore_case = args.flag("ignore_case", False)
    given = [key for key in _TESTS if args.has(key)]
    if len(given) != 1:
        args.fail("needs exactly one of matches, equals or empty")
    passes = _passes(args, given[0], ignore_case)

    def test(value: Value | None, record: Record) -> bool:
        return passes(texts_of(record.get(field) if field is not None else value))

    return test


def _passes(args: Args, kind: str, ignore_case: bool) -> Callable[[list[str]], bool]:
    if kind == "matches":
        source = args.text("matches")
        try:
            pattern = re.compile(source, re.IGNORECASE if ignore_case else 0)
        except re.error as error:
            args.fail(f"needs a valid regular expression, got {show(source)}: {error}")
        return lambda texts: any(pattern.search(nfc(item)) for item in texts)
    if kind == "equals":
        fold = str.casefold if ignore_case else str
        wanted = {fold(nfc(text)) for text in args.texts("equals")}
        return lambda texts: any(fold(nfc(item)) in wanted for item in texts)
    empty = args.flag("empty", True)
    return lambda texts: not texts if empty else bool(texts)


def _combined(args: Args, spec: Mapping[str, Any], kind: str, field_needed: bool) -> Test:
    if len(spec) != 1:
        others = ", ".join(sorted(set(spec) - {kind}))
        args.fail(f"takes {kind} alone in its table, got also {others}")
    inner, path = spec[kind], args.path
    if kind == "not":
        negated = compile_condition(inner, f"{path}.not", args.name, field_needed=field_needed)
        return lambda value, record: not negated(value, record)
    if not isinstance(inner, list) or not inner:
        args.fail(f"needs {kind} as a list of conditions, got {show(inner)}")
    tests = [
        compile_condition(item, f"{path}.{kind}[{i}]", args.name, field_needed=field_needed)
        for i, item in enumerate(inner)
    ]
    if kind == "all":
        return lambda value, record: all(test(value, record) for test in tests)
    return lambda value, record: any(test(value, record) for test in tests)


def fields_tested(spec: object) -> Iterator[str]:
    """The source fields a condition (checked or not) names."""
    if not isinstance(spec, dict):
        return
    if isinstance(spec.get("field"), str):
        yield spec["field"]
    for kind in _COMBINED:
        inner = spec.get(kind)
        for item in inner if isinstance(inner, list) else [inner]:
            yield from fields_tested(item)
