"""JSON columns (PostgreSQL's json and jsonb, MySQL's and MariaDB's JSON) as one canonical
text: compact, keys sorted, numbers by their value with every digit kept."""

from __future__ import annotations

import pytest

from services.providers.sql.values import compact_json


@pytest.mark.parametrize(
    ("given", "canonical"),
    [
        ('{"b": 1, "a": [true, null, "é"]}', '{"a":[true,null,"é"],"b":1}'),
        ("12345678901234567.89", "12345678901234567.89"),  # a float made it 1.2345678901234568e+16
        ("0.10000000000000000001", "0.10000000000000000001"),  # a float made it 0.1
        ("1e400", "1" + "0" * 400),  # a float made it Infinity, which no JSON column takes
        ("1e2", "100"),  # as 100 and 100.0 read: jsonb gives 100 back
        ("100.0", "100"),
        ("2.50", "2.5"),
        ("1e-7", "1e-07"),  # as a float is written, where a float holds it exactly
        ("-0.0", "0"),
    ],
)
def test_a_json_number_keeps_its_digits_and_is_spelled_by_its_value(
    given: str, canonical: str
) -> None:
    assert compact_json(given) == canonical
    assert compact_json(canonical) == canonical
