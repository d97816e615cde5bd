"""The test SQL lookups give the server for keys that a run may take in another spelling
(services/providers/keyforms.py): it must catch every key that is not as a run compares
it, or a lookup would miss an object that a whole read matches."""

from __future__ import annotations

import re
import unicodedata

import pytest

from core.engine import match_key
from schemas.values import Record
from services.providers import keyforms


def caught(text: str) -> bool:
    """What the servers' test says of a key: its ends' code points, then the regular
    expression (PostgreSQL's `~`, MariaDB's REGEXP; Python's `re` reads it the same)."""
    if text and (
        ord(text[0]) in keyforms.ascii_spaces() or ord(text[-1]) in keyforms.ascii_spaces()
    ):
        return True
    return re.search(keyforms.unsettled(), text) is not None


def as_compared(text: str) -> str:
    return unicodedata.normalize("NFC", text).strip()


@pytest.mark.parametrize(
    "key",
    [
        " e2",
        "e2\t",
        "\ne2",
        "e2\u00a0",
        "\u3000e2",
        "e2\u2028",
        "\x1ce2",
        unicodedata.normalize("NFD", "Zoë"),
        unicodedata.normalize("NFD", "Ångström"),
        "\u212bngstr\u00f6m",  # ANGSTROM SIGN: NFC makes it Å
        "e\u0301\u0327",  # two marks NFC composes and reorders
        "\u1100\u1161",  # Hangul jamo NFC composes into a syllable
        "\uf900",  # a CJK compatibility ideograph
        unicodedata.normalize("NFD", "Zoë") + " ",
    ],
)
def test_a_key_not_as_a_run_compares_it_is_caught(key: str) -> None:
    assert as_compared(key) != key
    assert caught(key)
    assert keyforms.unsettled_text(key)


@pytest.mark.parametrize("key", ["e2", "Zoë", "Ångström", "o'k (a*b) \\ c", "e%", "李小龙", "a b"])
def test_a_key_as_a_run_compares_it_is_not_caught(key: str) -> None:
    assert as_compared(key) == key
    assert not caught(key)
    assert not keyforms.unsettled_text(key)


def test_every_character_left_out_of_the_test_stays_as_it_is_in_nfc() -> None:
    """A text of such characters is in NFC (UAX #15's quick check): none changes alone or
    has a combining class, and none composes with a character before it."""
    pattern = re.compile(keyforms.unsettled())
    left_out = [
        c
        for c in map(chr, range(0x80, 0x110000))
        if not pattern.search(c) and not 0xD800 <= ord(c) <= 0xDFFF
    ]
    assert all(unicodedata.combining(c) == 0 for c in left_out)
    assert all(unicodedata.normalize("NFC", c) == c for c in left_out)
    for composite in map(chr, range(0x80, 0x110000)):
        decomposed = unicodedata.decomposition(composite)
        if decomposed and not decomposed.startswith("<") and len(decomposed.split()) == 2:
            second = chr(int(decomposed.split()[1], 16))
            assert pattern.search(second) or unicodedata.normalize("NFC", decomposed) != composite


def test_the_regular_expression_holds_no_ascii_but_its_own_syntax() -> None:
    """Its characters go in bracket expressions: none may be read as syntax there."""
    assert set(filter(str.isascii, keyforms.unsettled())) <= set("^[]|$-")
    assert [c for c in keyforms.spaces() if c.isascii()] == [
        chr(p) for p in keyforms.ascii_spaces()
    ]
    assert all(not chr(p).strip() for p in keyforms.ascii_spaces())


def test_a_lookup_keeps_the_records_of_the_keys_asked_for_as_a_run_compares_them() -> None:
    nfd = unicodedata.normalize("NFD", "Zoë")
    records: list[Record] = [
        {"id": " e2"},
        {"id": "E2"},
        {"id": nfd},
        {"id": "e3"},
        {"id": ""},
        {"id": ["e2"]},
        {"name": "e2"},
    ]
    wanted = keyforms.compared(["e2 ", "Zoë", "", "  "])
    assert wanted == {"e2", "Zoë"}
    kept = keyforms.asked_only(records, "id", wanted)
    assert kept == [{"id": " e2"}, {"id": nfd}]
    assert {match_key(r, ["id"], False) for r in kept} == wanted


def test_the_tables_made_of_three_planes_are_those_of_every_code_point() -> None:
    """Spaces and the characters NFC may change are looked for in planes 0 to 2 alone:
    this Python's Unicode tables have none beyond them."""
    every = 0x110000
    assert keyforms.spaces() == keyforms.spaces(every)
    assert keyforms._unsettled_points() == keyforms._unsettled_points(every)
