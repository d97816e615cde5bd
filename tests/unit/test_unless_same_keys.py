"""The key checks of a re-run comparing rows by their text (planning/unless_same.py), taken
at once over the joined keys, say what a check of every key one by one says: whether
every key is plain (ASCII text without spaces around it, not empty), and which keys more
than one row holds but for case."""

from __future__ import annotations

from collections import Counter

from hypothesis import example, given
from hypothesis import strategies as st

from services.runner.planning.unless_same import cased_twins, plain_keys

# Every ASCII space `str.strip` strips (\x1c-\x1f too), letters of both cases, a
# non-ASCII letter and a non-ASCII space.
KEY_CHARS = "aAbBzZ09-_ \t\n\x0b\x0c\r\x1c\x1d\x1e\x1f\u00e9\u00a0"
keys_of = st.lists(st.one_of(st.text(alphabet=KEY_CHARS, max_size=4), st.none()), max_size=8)


def plain_one_by_one(keys: list[str | None]) -> bool:
    return all(
        isinstance(key, str) and key.isascii() and key and key.strip() == key for key in keys
    )


def twins_one_by_one(keys: list[str]) -> set[str]:
    counts = Counter(key.lower() for key in keys)
    return {key for key, count in counts.items() if count > 1}


@given(keys_of)
@example(["a", " b"])
@example(["a", "b\x1f"])
@example(["a", ""])
@example(["a", None])
@example(["a b", "c"])  # a space inside a key: plain
@example(["\u00e9"])
def test_plain_keys_as_each_key_checked(keys: list[str | None]) -> None:
    assert plain_keys(keys) == plain_one_by_one(keys)


@given(st.lists(st.text(alphabet="aAbB09-", min_size=1, max_size=3), unique=True, max_size=8))
@example(["E1", "e1"])
@example(["E1", "E2"])  # upper case only: lowered, still two keys
@example(["e1", "e2"])
@example(["Ab", "aB", "ab"])
@example(["A1", "b2", "a1"])
def test_cased_twins_as_each_key_lowered(keys: list[str]) -> None:
    assert cased_twins(keys) == twins_one_by_one(keys)
