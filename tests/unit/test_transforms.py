"""Every transformation, table-driven: Unicode, no value, multi-valued, bad arguments."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest

from core.engine.context import MappingContext
from core.engine.transforms import compile_transform
from schemas.values import Record, Value

CONTEXT = MappingContext(
    job_id="hr-to-ldap",
    run_id="20261121T204800Z-3f9a1c",
    now=datetime(2026, 11, 21, 20, 48, 5, tzinfo=UTC),
    environment={"SITE": "Zürich"},
)
RECORD: Record = {
    "first_name": "Zoë",
    "last_name": "O'Brien",
    "nickname": "",
    "department": "Sales EMEA",
    "groups": ["staff", "vpn"],
    "badge": "B-7",
}
PATH = "$.objects[0].fields[2].transform"


def table(cases: list[Any]) -> list[Any]:
    """Rows (id, arguments…) as pytest parameters named by their id."""
    return [pytest.param(*case[1:], id=case[0]) for case in cases]


def apply(spec: Any, value: Value | None, record: Record = RECORD) -> Value | None:
    return compile_transform(spec, PATH, CONTEXT)(value, record)


CASES: list[tuple[str, Any, Value | None, Value | None]] = [
    # case
    ("upper-unicode", "upper", "straße zoë", "STRASSE ZOË"),
    ("upper-each-item", "upper", ["ada", "łukasz"], ["ADA", "ŁUKASZ"]),
    ("upper-no-value", "upper", None, None),
    ("upper-as-table", {"upper": True}, "a", "A"),
    ("lower-unicode", "lower", "ÉLODIE ÅSE", "élodie åse"),
    ("title-unicode", "title", "jürgen o'brien-müller", "Jürgen O'Brien-Müller"),
    ("title-greek", "title", "σωκράτης", "Σωκράτης"),
    ("title-decomposed", "title", "o'bri\u0065\u0301n-mu\u0308ller", "O'Brién-Müller"),
    ("title-mark-of-no-letter", "title", "q\u0308uux q\u0308", "Q\u0308uux Q\u0308"),
    # trim
    ("trim-spaces", "trim", "  Ada \t", "Ada"),
    ("trim-to-nothing", "trim", "   ", ""),
    ("trim-each-drops-empty-items", "trim", [" a ", "  "], ["a"]),
    ("trim-chars", {"trim": "-."}, "--a.b.", "a.b"),
    # cutting, in characters of the NFC form
    ("left", {"left": 3}, "Lovelace", "Lov"),
    ("left-longer-than-text", {"left": 30}, "Ada", "Ada"),
    ("left-zero", {"left": 0}, "Ada", ""),
    ("left-decomposed-accent-is-one-character", {"left": 1}, "E\u0301lodie", "É"),
    ("left-each-item", {"left": 1}, ["ab", "cd"], ["a", "c"]),
    ("right", {"right": 4}, "Lovelace", "lace"),
    ("right-zero", {"right": 0}, "Ada", ""),
    ("right-unicode", {"right": 2}, "Zoë", "oë"),
    ("substring", {"substring": 2, "length": 3}, "Lovelace", "vel"),
    ("substring-to-end", {"substring": 4}, "Lovelace", "lace"),
    ("substring-negative-start", {"substring": -4, "length": 2}, "Lovelace", "la"),
    ("substring-past-end", {"substring": 20, "length": 2}, "Ada", ""),
    ("substring-float-whole", {"substring": 1.0, "length": 2.0}, "Ada", "da"),
    # replace
    ("replace-plain-all", {"replace": "a", "with": "4"}, "banana", "b4n4n4"),
    ("replace-plain-count", {"replace": "a", "with": "4", "count": 2}, "banana", "b4n4na"),
    ("replace-plain-remove", {"replace": " "}, "a b c", "abc"),
    ("replace-plain-dots-not-regex", {"replace": ".", "with": "-"}, "a.b", "a-b"),
    ("replace-ignore-case", {"replace": "ä", "with": "ae", "ignore_case": True}, "ÄÄä", "aeaeae"),
    (
        "replace-ignore-case-backslash-literal",
        {"replace": "a", "with": r"\1", "ignore_case": True},
        "A",
        r"\1",
    ),
    ("replace-regex", {"replace": r"\s+", "with": " ", "regex": True}, "a   b\tc", "a b c"),
    (
        "replace-regex-groups",
        {"replace": r"(\w+) (\w+)", "with": r"\2, \1", "regex": True},
        "Ada Lovelace",
        "Lovelace, Ada",
    ),
    (
        "replace-regex-named",
        {"replace": r"(?P<n>\d+)", "with": r"#\g<n>", "regex": True},
        "a1b22",
        "a#1b#22",
    ),
    (
        "replace-regex-unmatched-group-empty",
        {"replace": r"(a)|(b)", "with": r"[\2]", "regex": True},
        "ab",
        "[][b]",
    ),
    (
        "replace-regex-count",
        {"replace": r"\d", "with": "#", "regex": True, "count": 1},
        "1a2",
        "#a2",
    ),
    (
        "replace-regex-unicode-word",
        {"replace": r"^\w", "with": "_", "regex": True},
        "Łukasz",
        "_ukasz",
    ),
    (
        "replace-regex-each-item",
        {"replace": "^", "with": "cn=", "regex": True},
        ["a", "b"],
        ["cn=a", "cn=b"],
    ),
    ("replace-to-empty-is-no-item", {"replace": "x"}, ["x", "y"], ["y"]),
    # split / nth
    ("split-to-list", {"split": ","}, "a,,b,c", ["a", "b", "c"]),
    ("split-nth", {"split": " ", "nth": 1}, "Ada King Lovelace", "King"),
    ("split-nth-last", {"split": " ", "nth": -1}, "Ada King Lovelace", "Lovelace"),
    ("split-nth-missing-is-no-value", {"split": " ", "nth": 3}, "Ada Lovelace", None),
    ("split-each-item", {"split": "=", "nth": 1}, ["cn=a", "cn=b"], ["a", "b"]),
    ("split-list-flattens", {"split": ","}, ["a,b", "c"], ["a", "b", "c"]),
    ("split-no-value", {"split": ","}, None, None),
    ("nth-of-list", {"nth": 1}, ["a", "b", "c"], "b"),
    ("nth-of-text", {"nth": 0}, "a", "a"),
    ("nth-out-of-range", {"nth": 5}, ["a"], None),
    # static: a run's variables, filled in once
    ("static", {"static": "Sales"}, "ignored", "Sales"),
    (
        "static-variables",
        {"static": "%JOB_ID%/%RUN_ID% %TODAY% %NOW%"},
        None,
        "hr-to-ldap/20261121T204800Z-3f9a1c 2026-11-21 2026-11-21T20:48:05Z",
    ),
    ("static-environment", {"static": "site %ENV:SITE%"}, None, "site Zürich"),
    ("static-percent", {"static": "50% and 100%%"}, None, "50% and 100%"),
    ("static-empty-is-no-value", {"static": ""}, "x", None),
    # join reads source fields
    ("join", {"join": ["first_name", "last_name"], "separator": " "}, None, "Zoë O'Brien"),
    ("join-default-separator-space", {"join": ["first_name", "last_name"]}, None, "Zoë O'Brien"),
    (
        "join-skips-empty-fields",
        {"join": ["first_name", "nickname", "badge"], "separator": "-"},
        None,
        "Zoë-B-7",
    ),
    ("join-multi-valued-field", {"join": ["groups"], "separator": ";"}, None, "staff;vpn"),
    ("join-nothing-is-no-value", {"join": ["nickname", "missing"]}, "x", None),
    # default (coalesce)
    ("default-keeps-a-value", {"default": "n/a"}, "Ada", "Ada"),
    ("default-constant", {"default": "n/a"}, None, "n/a"),
    ("default-replaces-empty-list", {"default": "n/a"}, [], "n/a"),
    ("default-fields", {"default": ["nickname", "first_name"]}, None, "Zoë"),
    ("default-fields-then-value", {"default": ["nickname", "missing"], "value": "?"}, None, "?"),
    ("default-fields-nothing", {"default": ["nickname"]}, None, None),
    ("default-field-list-copied", {"default": ["groups"]}, None, ["staff", "vpn"]),
    # dates
    ("date", {"date": "%d.%m.%Y", "to": "%Y-%m-%d"}, "10.12.1815", "1815-12-10"),
    (
        "date-tries-formats",
        {"date": ["%d.%m.%Y", "%Y%m%d"], "to": "%d/%m/%Y"},
        "18151210",
        "10/12/1815",
    ),
    ("date-trims", {"date": "%Y-%m-%d", "to": "%d.%m.%y"}, " 2024-02-29 ", "29.02.24"),
    ("date-each-item", {"date": "%Y", "to": "%y"}, ["1999", "2024"], ["99", "24"]),
    ("date-no-value", {"date": "%Y", "to": "%y"}, None, None),
    # value maps
    ("map", {"map": {"S": "Sales", "F": "Finance"}}, "F", "Finance"),
    ("map-unicode-key", {"map": {"Zürich": "ZH"}}, "Zürich", "ZH"),
    ("map-default", {"map": {"S": "Sales"}, "default": "Other"}, "X", "Other"),
    ("map-keep-unmapped", {"map": {"S": "Sales"}, "keep_unmapped": True}, "X", "X"),
    ("map-ignore-case", {"map": {"ÉTÉ": "summer"}, "ignore_case": True}, "été", "summer"),
    (
        "map-each-item",
        {"map": {"staff": "cn=staff"}, "keep_unmapped": True},
        ["staff", "vpn"],
        ["cn=staff", "vpn"],
    ),
    ("map-to-empty-drops-item", {"map": {"a": "", "b": "B"}}, ["a", "b"], ["B"]),
    ("map-no-value", {"map": {"S": "Sales"}}, None, None),
    # conditional
    (
        "if-field-matches",
        {
            "if": {"field": "department", "matches": "^Sales"},
            "then": {"static": "seller"},
            "else": {"static": "other"},
        },
        "x",
        "seller",
    ),
    (
        "if-field-does-not-match",
        {
            "if": {"field": "department", "matches": "^Legal"},
            "then": {"static": "lawyer"},
            "else": "upper",
        },
        "x",
        "X",
    ),
    (
        "if-without-else-keeps",
        {"if": {"field": "department", "equals": "Legal"}, "then": {"static": "y"}},
        "x",
        "x",
    ),
    (
        "if-equals-any-ignore-case",
        {
            "if": {"field": "department", "equals": ["sales emea", "x"], "ignore_case": True},
            "then": "upper",
        },
        "a",
        "A",
    ),
    ("if-on-own-value", {"if": {"matches": "^\\d+$"}, "then": {"left": 2}}, "12345", "12"),
    (
        "if-empty",
        {"if": {"field": "nickname", "empty": True}, "then": {"static": "none"}},
        "x",
        "none",
    ),
    (
        "if-not-empty",
        {"if": {"field": "nickname", "empty": False}, "then": {"static": "some"}},
        "x",
        "x",
    ),
    (
        "if-any-item",
        {"if": {"field": "groups", "equals": "vpn"}, "then": {"static": "remote"}},
        None,
        "remote",
    ),
    (
        "if-then-chain",
        {
            "if": {"field": "badge", "matches": "-"},
            "then": [{"split": "-", "nth": 1}, {"static": "b%RUN_ID%"}],
        },
        "x",
        "b20261121T204800Z-3f9a1c",
    ),
    # chains
    (
        "chain-in-order",
        [{"split": "@", "nth": 0}, "lower", {"replace": "."}],
        "Ada.L@x.org",
        "adal",
    ),
    (
        "chain-join-then-cut",
        [{"join": ["first_name", "last_name"]}, {"left": 5}, "upper"],
        None,
        "ZOË O",
    ),
    ("chain-of-one", ["upper"], "a", "A"),
]


@pytest.mark.parametrize(("spec", "value", "expected"), table(CASES))
def test_transformation(spec: Any, value: Value | None, expected: Value | None) -> None:
    assert apply(spec, value) == expected


def test_a_transformation_changes_neither_the_value_nor_the_record() -> None:
    record = {**RECORD, "groups": ["staff", "vpn"]}
    value = ["a ", " b"]
    apply(["trim", "upper", {"default": ["groups"]}], value, record)
    assert value == ["a ", " b"] and record == {**RECORD, "groups": ["staff", "vpn"]}
