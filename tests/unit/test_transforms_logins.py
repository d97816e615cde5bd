"""Making logins and addresses: `format` templates and `ascii` folding."""

from __future__ import annotations

from typing import Any

import pytest

from schemas.values import Binary, Record, Value
from services.runner.engine.transforms import RecordFailed, TransformError, compile_transform

from .test_transforms import CONTEXT, PATH, table

PERSON: Record = {
    "first_name": "Zoë",
    "last_name": "Ångström",
    "given": "Łukasz",
    "family": "Kowalczyk Nørgaard",
    "groups": ["staff", "vpn"],
    "one_group": ["staff"],
    "empty": "",
}
ADDRESS = [{"format": "{first_name}.{last_name}@example.org"}, "ascii", "lower"]


def apply(spec: Any, value: Value | None, record: Record = PERSON) -> Value | None:
    return compile_transform(spec, PATH, CONTEXT)(value, record)


CASES: list[tuple[str, Any, Value | None, Value | None]] = [
    # ascii: letters written in ASCII, whatever script or accent
    ("ascii-accents", "ascii", "Zoë Ångström", "Zoe Angstrom"),
    ("ascii-slashed-o", "ascii", "Nørgaard", "Norgaard"),
    ("ascii-sharp-s", "ascii", "Straße", "Strasse"),
    ("ascii-stroke-l", "ascii", "Łukasz", "Lukasz"),
    ("ascii-ligature", "ascii", "Cæcilie Æbelø", "Caecilie Aebelo"),
    ("ascii-thorn-eth", "ascii", "Þórður", "Thordur"),
    ("ascii-decomposed", "ascii", "Zoe\u0308", "Zoe"),
    ("ascii-cyrillic", "ascii", "Дмитрий", "Dmitriy"),
    ("ascii-greek", "ascii", "Σωκράτης", "Sokratis"),
    ("ascii-already", "ascii", "o'brien-smith", "o'brien-smith"),
    ("ascii-each-item", "ascii", ["Åsa", "Jörg"], ["Asa", "Jorg"]),
    ("ascii-no-value", "ascii", None, None),
    ("ascii-as-table", {"ascii": True}, "ø", "o"),
    # format: source fields in a template
    ("format-address", ADDRESS, None, "zoe.angstrom@example.org"),
    (
        "format-first-letter",
        [{"format": "{given:.1}{family}"}, "ascii"],
        None,
        "LKowalczyk Norgaard",
    ),
    ("format-first-letters", {"format": "{last_name:.3}{first_name:.2}"}, None, "ÅngZo"),
    ("format-decomposed-letter-is-one", {"format": "{x:.1}"}, None, "É"),
    ("format-value-so-far", ["lower", {"format": "{}@example.org"}], "ADA", "ada@example.org"),
    ("format-value-and-field", {"format": "{} ({first_name})"}, "zoe", "zoe (Zoë)"),
    ("format-braces", {"format": "{{{first_name}}}"}, None, "{Zoë}"),
    ("format-one-item", {"format": "{one_group}@example.org"}, None, "staff@example.org"),
    ("format-keep-longer-than-text", {"format": "{first_name:.10}"}, None, "Zoë"),
    ("format-keep-nothing", {"format": "{first_name:.0}x"}, None, "x"),
    ("format-field-with-space", {"format": "<{full name}>"}, None, "<Ada L>"),
]
EXTRA: Record = {"x": "E\u0301lodie", "full name": "Ada L"}


@pytest.mark.parametrize(("spec", "value", "expected"), table(CASES))
def test_transformation(spec: Any, value: Value | None, expected: Value | None) -> None:
    assert apply(spec, value, {**PERSON, **EXTRA}) == expected


BAD: list[tuple[str, Any, str]] = [
    (
        "python-spec",
        {"format": "{first:>5}"},
        "format has an unknown placeholder {first:>5} (write {field}, {field:.N} for its "
        "first N characters, {} for the value so far, {{ or }})",
    ),
    ("python-conversion", {"format": "{first!r}"}, "unknown placeholder {first!r}"),
    ("python-index", {"format": "{first[0]}"}, "unknown placeholder {first[0]}"),
    ("spaces-around", {"format": "{ first }"}, "unknown placeholder { first }"),
    ("bad-count", {"format": "{first:.x}"}, "unknown placeholder {first:.x}"),
    ("lone-open", {"format": "{first}@{"}, 'format has a lone "{" at character 9'),
    ("lone-close", {"format": "a}b{first}"}, 'format has a lone "}" at character 2'),
    (
        "no-field",
        {"format": "constant"},
        'format names no field, such as {first_name} (a constant is static), got "constant"',
    ),
    ("not-text", {"format": ["{a}"]}, "format needs the template as text"),
    ("no-options", {"format": "{a}", "separator": "."}, 'format has no option "separator"'),
    ("bare", "format", "format needs arguments"),
    ("ascii-argument", {"ascii": "de"}, 'ascii takes no arguments: write "ascii"'),
]


@pytest.mark.parametrize(("spec", "message"), table(BAD))
def test_a_template_written_wrongly_is_refused_with_its_path(spec: Any, message: str) -> None:
    with pytest.raises(TransformError) as caught:
        compile_transform(spec, PATH, CONTEXT)
    assert str(caught.value).startswith(PATH)
    assert message in caught.value.problem


FAILS: list[tuple[str, Any, Value | None, str]] = [
    (
        "missing-field",
        [{"format": "{first_name}.{surname}@example.org"}, "ascii", "lower"],
        None,
        "format needs {surname}, which has no value",
    ),
    ("empty-field", {"format": "{empty}.x"}, None, "format needs {empty}, which has no value"),
    ("no-value-so-far", {"format": "{}@x.org"}, None, "format needs {}, which has no value"),
    (
        "several-values",
        {"format": "{groups}"},
        None,
        'format needs one value for {groups}, got ["staff", "vpn"]',
    ),
    ("binary", {"format": "{}"}, Binary(b"\x00"), "format needs text for {}, got binary data"),
    ("ascii-binary", "ascii", Binary(b"\x00"), "ascii needs text"),
]


@pytest.mark.parametrize(("spec", "value", "message"), table(FAILS))
def test_a_record_without_what_the_template_names_fails_alone(
    spec: Any, value: Value | None, message: str
) -> None:
    with pytest.raises(RecordFailed) as caught:
        apply(spec, value)
    assert message in str(caught.value)
