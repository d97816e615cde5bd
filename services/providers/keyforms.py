"""Stored keys that a run takes as a key in another spelling, for the lookups of SQL
tables, sources and destinations (`KeyReader.read_keys`).

A run compares keys in Unicode NFC without the spaces around them (core.engine.match_key):
" e2", "e2\\t" and "e2" are one key, as are a composed "Zoë" and a decomposed one. A
lookup asks the server for the keys as they are spelled; so it also asks for the rows
whose key may be spelled otherwise — a first or last character that is a space, or a
character that may not stay as it is in NFC — and keeps, of all it finds, the records
whose key, compared as a run compares it, is one of those asked for (`asked_only`). What
is found is then what a whole read would take as those keys, whatever the server's
collation.

The test is cheap on a server: a key in ASCII is looked at by its first and last
character alone; only one holding other characters goes through a regular expression
(`unsettled`; SQLite's, through `unsettled_text`, in Python). It never leaves out a key
that NFC would change: a text whose characters all have NFC_Quick_Check=Yes and
combining class 0 is in NFC (UAX #15, section 9), and the characters that have not are
taken from this Python's own Unicode tables, which are the ones the run normalises with.
"""

from __future__ import annotations

import asyncio
import unicodedata
from collections.abc import Iterable, Sequence
from functools import cache

from core.engine import match_key
from schemas.values import Record

_HANGUL_VOWELS = range(0x1161, 0x1176)
_HANGUL_TRAILS = range(0x11A8, 0x11C3)
"""Jamo that compose with the syllable before them (NFC_Quick_Check=Maybe)."""


_SCANNED = 0x30000
"""Planes 0 to 2 hold every space, every combining character and every character with a
canonical decomposition (planes 3 and up: ideographs without one, tags, variation
selectors of class 0, private use): the tables are made of these alone, five times
quicker than of every code point (tests/unit/test_key_forms.py compares the two)."""


@cache
def spaces(limit: int = _SCANNED) -> str:
    """Every character `str.strip()` removes from the ends of a key."""
    return "".join(filter(str.isspace, map(chr, range(limit))))


def ascii_spaces() -> list[int]:
    """The code points of the spaces in ASCII."""
    return [point for point in range(0x80) if chr(point).isspace()]


@cache
def _unsettled_points(limit: int = _SCANNED) -> tuple[int, ...]:
    """The characters that may make a text change in NFC: those NFC changes alone
    (NFC_Quick_Check=No), combining ones (a class other than 0: NFC may reorder them),
    and those that compose with the character before them (NFC_Quick_Check=Maybe)."""
    found: set[int] = set(_HANGUL_VOWELS) | set(_HANGUL_TRAILS)
    for point in range(0x80, limit):
        c = chr(point)
        if unicodedata.combining(c):
            found.add(point)
        decomposed = unicodedata.decomposition(c)
        if decomposed and not decomposed.startswith("<"):  # NFC changes no other one
            if unicodedata.normalize("NFC", c) != c:
                found.add(point)
            parts = [chr(int(part, 16)) for part in decomposed.split()]
            if len(parts) == 2 and unicodedata.normalize("NFC", "".join(parts)) == c:
                found.add(ord(parts[1]))
    return tuple(sorted(found))


def _bracket(points: Iterable[int]) -> str:
    """A bracket expression of the characters (none of them ASCII), runs as ranges."""
    runs: list[list[int]] = []
    for point in points:
        if runs and runs[-1][1] == point - 1:
            runs[-1][1] = point
        else:
            runs.append([point, point])
    return "".join(
        chr(a) if a == b else f"{chr(a)}-{chr(b)}" if b > a + 1 else chr(a) + chr(b)
        for a, b in runs
    )


@cache
def unsettled() -> str:
    """A regular expression (POSIX, as PostgreSQL's and MariaDB's) that a key matches
    when it starts or ends with a space outside ASCII, or holds a character that may
    make it change in NFC. Keys in ASCII never match it (they are tested by their ends'
    code points: `ascii_spaces`). Made once, from the Unicode tables (some 30 ms: `made_once`)."""
    wide = _bracket(ord(c) for c in spaces() if not c.isascii())
    return f"^[{wide}]|[{wide}]$|[{_bracket(_unsettled_points())}]"


async def made_once() -> str:
    """`unsettled()`, made (the first time) in a thread of its own, not on the loop."""
    return await asyncio.to_thread(unsettled)


def unsettled_text(value: object) -> bool:
    """Whether a stored value is text that a run compares in another spelling (in NFC,
    without the spaces at its ends): exactly, in Python (SQLite's test)."""
    return isinstance(value, str) and unicodedata.normalize("NFC", value).strip() != value


def asked_only(records: Sequence[Record], field: str, wanted: frozenset[str]) -> list[Record]:
    """The records whose `field`, compared as a run compares keys (with case), is one of
    `wanted` (keys in that form)."""
    keys = [field]
    return [record for record in records if match_key(record, keys, False) in wanted]


def compared(values: Iterable[str]) -> frozenset[str]:
    """Keys as a run compares them (with case), unusable ones left out."""
    found = (match_key({"k": value}, ["k"], False) for value in values)
    return frozenset(key for key in found if key is not None)
