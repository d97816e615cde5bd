"""What an absence confirmed looks a SCIM user up by (core.engine.keys.key_parts): texts
every spelling the run takes for the key holds, so that `userName co "…"` finds each one
— with spaces around it, in another Unicode form, in another case where keys compare
without it, with a character that folds or composes to the key's ("ß" for "ss", the
Kelvin sign for "K") —, or none, and the source is read whole. Checked over every
character of Unicode, and over spellings made at random."""

from __future__ import annotations

import sys
import unicodedata
from typing import Literal

import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from core.engine import match_key
from core.engine.keys import STANDS_FOR_WITH_CASE, STANDS_FOR_WITHOUT_CASE, key_parts
from schemas.values import Record


def _folded(text: str) -> str:
    return unicodedata.normalize("NFC", text.casefold())


def _images(char: str) -> set[str]:
    """What `char` may become in a key as the run compares it, with case and without."""
    plain = unicodedata.normalize("NFC", char)
    folded = plain.casefold()
    return {plain, folded, _folded(plain), unicodedata.normalize("NFD", folded)}


def _beside_a_mark(text: str, at: int) -> bool:
    """Whether the `at`-th character of `text` is before a mark or a modifier letter, or
    after a modifier letter."""
    after = unicodedata.category(text[at + 1]) if at + 1 < len(text) else ""
    before = unicodedata.category(text[at - 1]) if at else ""
    return after[:1] == "M" or after == "Lm" or before == "Lm"


def test_every_character_that_may_stand_for_ascii_is_known() -> None:
    # Over all of Unicode: a character that is not ASCII but becomes ASCII text in a key
    # (NFC; folded where keys compare without case) is in the tables key_parts sets
    # aside; one that becomes ASCII beside a mark or modifier ("İ" is "i̇") has its ASCII
    # letters beside another character, which key_parts sets aside too.
    with_case: set[str] = set()
    without_case: set[str] = set()
    for point in range(0x80, sys.maxunicode + 1):
        char = chr(point)
        plain = unicodedata.normalize("NFC", char)
        if plain.isascii():
            with_case.add(plain)
        for image in _images(char):
            if image.isascii():
                without_case.add(image.casefold())
            elif any(c.isascii() for c in image):
                ascii_at = [at for at, c in enumerate(image) if c.isascii()]
                assert all(_beside_a_mark(image, at) for at in ascii_at), (hex(point), image)
    assert with_case == set(STANDS_FOR_WITH_CASE)
    assert without_case == set(STANDS_FOR_WITHOUT_CASE)


@pytest.mark.parametrize(
    ("value", "folds", "parts"),
    [
        ("u4", False, ["u4"]),
        ("  u4 ", False, ["u4"]),
        ("jdoe", True, ["jdoe"]),
        ("STRASSE4", True, ["ra", "e4"]),
        ("straße4", True, ["ra", "e4"]),
        ("Kate", False, ["ate"]),
        ("Kate", True, ["ate"]),
        ("ssk", True, None),
        ("é", False, None),
        ("éu4", False, ["u4"]),
        ("jörg", True, ["j", "rg"]),
        ("i\u0307x", True, ["x"]),
        ("\u02bcnab", True, ["ab"]),
        ("", False, None),
    ],
)
def test_the_texts_a_key_is_looked_up_by(value: str, folds: bool, parts: list[str] | None) -> None:
    assert key_parts(value, folds) == parts


# Characters that stand for others in a key as the run compares it (NFC, folded), and
# what they stand for: the alternatives a spelling may take.
_ALTERNATIVES: dict[bool, dict[str, list[str]]] = {False: {}, True: {}}
for _point in [*range(0x80, 0x2000), *range(0x2100, 0x2200), *range(0xFB00, 0xFB50)]:
    _char = chr(_point)
    if unicodedata.category(_char).startswith("C"):
        continue
    _ALTERNATIVES[False].setdefault(unicodedata.normalize("NFC", _char), []).append(_char)
    _ALTERNATIVES[True].setdefault(_folded(unicodedata.normalize("NFC", _char)), []).append(_char)

_SPACES = [c for c in map(chr, range(0x3001)) if c.isspace()]
_MARKS = ["\u0301", "\u0308", "\u0323", "\u0307", "\u0338", "\u0334", "\u030c"]
_LETTERS = st.sampled_from(
    [*"abcfiklnstuxzKS;`4 ", "ß", "é", "ö", "İ", "ŉ", "ǰ", "ﬁ", "\u212a", "\u017f", *_MARKS]
)


@st.composite
def _spelled(draw: st.DrawFn, key: str, folds: bool) -> str:
    """A value the run may take for `key` (as it compares it): each piece of it spelled
    by any character that stands for it, in any case where keys compare without it, in
    NFC, NFD or as made, with spaces around it."""
    table = _ALTERNATIVES[folds]
    out, at = "", 0
    while at < len(key):
        choices = [(key[at], 1)]
        for size in (1, 2, 3):
            piece = key[at : at + size]
            choices += [(alt, size) for alt in table.get(piece, []) if len(piece) == size]
        text, size = draw(st.sampled_from(choices))
        if folds and draw(st.booleans()):
            text = text.upper() if draw(st.booleans()) else text.lower()
        out += text
        at += size
    forms: list[Literal["NFC", "NFD"] | None] = [None, "NFC", "NFD"]
    form = draw(st.sampled_from(forms))
    if form is not None:
        out = unicodedata.normalize(form, out)
    before = draw(st.lists(st.sampled_from(_SPACES), max_size=2))
    after = draw(st.lists(st.sampled_from(_SPACES), max_size=2))
    return "".join(before) + out + "".join(after)


def _lowered(text: str) -> str:
    """`text` as a service comparing without case may compare it: ASCII lowered alone."""
    return "".join(c.lower() if c.isascii() else c for c in text)


@settings(max_examples=600, deadline=None)
@given(st.data(), st.text(_LETTERS, min_size=1, max_size=8), st.booleans())
def test_every_spelling_of_a_key_holds_the_texts_it_is_looked_up_by(
    data: st.DataObject, held: str, folds: bool
) -> None:
    # The destination holds `held`; any value the run takes for the same key holds each
    # text the key is looked up by (in its case, or without ASCII case where keys compare
    # without it: userName, which the service compares so) — or the source is read whole.
    record: Record = {"k": held}
    key = match_key(record, ["k"], folds)
    assume(key is not None)
    assert key is not None
    spelling = data.draw(_spelled(key, folds))
    assume(match_key({"k": spelling}, ["k"], folds) == key)
    parts = key_parts(held, folds)
    if parts is None:
        return  # read whole
    found = _lowered(spelling) if folds else spelling
    for text in parts:
        assert (_lowered(text) if folds else text) in found, (held, spelling, parts)
