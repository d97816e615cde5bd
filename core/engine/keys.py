"""An object's identity: the key two records share when they are the same object, and
the key as people read it."""

from __future__ import annotations

import unicodedata
from collections.abc import Callable, Iterable, Mapping, Sequence
from itertools import compress
from operator import not_, or_

import msgspec

from core.errors import BadInput
from schemas.values import Record

KEY_SEPARATOR = " / "


def match_key(record: Record, keys: Sequence[str], case_insensitive: bool) -> str | None:
    """The identity two records share when they are the same object; None when unusable.

    Key values compare in Unicode NFC without surrounding spaces (casefolded when
    `case_insensitive`); None when one is empty, multi-valued or binary. Opaque: show
    `display_key` instead.
    """
    if len(keys) == 1:  # the common case, on the hot path of every record
        return _key_part(record.get(keys[0]), case_insensitive)
    parts: list[str] = []
    for field in keys:
        part = _key_part(record.get(field), case_insensitive)
        if part is None:
            return None
        parts.append(part)
    # Length-prefixed so that no value, whatever it holds, makes two keys collide.
    return "".join([f"{len(part)}:{part}" for part in parts])


def _key_part(value: object, case_insensitive: bool) -> str | None:
    if not isinstance(value, str):
        return None
    if not value.isascii():  # ASCII text is already in NFC
        value = unicodedata.normalize("NFC", value)
    part = value.strip()
    if not part:
        return None
    return _folded(part) if case_insensitive else part


def _folded(part: str) -> str:
    # casefold can produce decomposed text (e.g. "İ"), so compose again.
    part = part.casefold()
    return part if part.isascii() else unicodedata.normalize("NFC", part)


def _parts(key: str, fields: int) -> list[str]:
    """The values a match key of `fields` key fields (compared with case) is made of."""
    if fields == 1:
        return [key]
    parts, at = [], 0
    while at < len(key):
        colon = key.index(":", at)
        end = colon + 1 + int(key[at:colon])
        parts.append(key[colon + 1 : end])
        at = end
    return parts


def folded_key(key: str, fields: int) -> str:
    """The match key a job comparing without case gives the record whose match key,
    compared with case, is `key` (of `fields` key fields)."""
    if fields == 1:
        return _folded(key)
    return "".join([f"{len(part)}:{part}" for part in map(_folded, _parts(key, fields))])


def key_shown(key: str, fields: int) -> str:
    """A match key compared with case, as people read it: "alice" or "sales / alice"."""
    return KEY_SEPARATOR.join(_parts(key, fields))


def other_cases(
    absent: Iterable[str],
    source: Iterable[str],
    fields: int,
    known: Mapping[str, str] | None = None,
) -> dict[str, str]:
    """Each of the `absent` match keys (compared with case) that equals without case a
    `source` key (or one of those `known` already, absent key → source key) → the least
    such source key: objects a job comparing with case finds absent, while a destination
    comparing without case may hold them as the source's."""
    by_fold: dict[str, list[str]] = {}
    for key in absent:
        by_fold.setdefault(folded_key(key, fields), []).append(key)
    found = dict(known or {})
    if not by_fold:
        return found
    if fields == 1:  # only the few keys that may fold alike looked at, picked out in C
        keys = list(source)
        # A key whose casefold is not among theirs still may fold alike once composed
        # (text not ASCII): looked at too.
        ours = by_fold.keys() | {key.casefold() for key in by_fold}
        alike: Iterable[bool] = map(ours.__contains__, map(str.casefold, keys))
        if not "".join(keys).isascii():
            alike = map(or_, alike, map(not_, map(str.isascii, keys)))
        source = compress(keys, alike)
    for key in source:
        for theirs in by_fold.get(folded_key(key, fields), ()):
            if theirs != key and ((least := found.get(theirs)) is None or key < least):
                found[theirs] = key
    return found


def case_clash(source: Iterable[str], fields: int) -> tuple[str, str] | None:
    """Two of the `source` match keys (compared with case, of `fields` key fields) that
    are equal without case — the least two of the least such fold —, else None: records
    a job comparing with case tells apart, while a destination comparing without case
    holds them as one object."""
    keys = source if isinstance(source, set) else set(source)
    ascii_only = fields == 1 and "".join(keys).isascii()
    if ascii_only and len(set(map(str.casefold, keys))) == len(keys):  # at once, in C
        return None
    by_fold: dict[str, list[str]] = {}
    for key in keys:
        by_fold.setdefault(folded_key(key, fields), []).append(key)
    clashing = [sorted(alike)[:2] for alike in by_fold.values() if len(alike) > 1]
    if not clashing:
        return None
    first, second = min(clashing)
    return first, second


def key_record(key: str, keys: Sequence[str]) -> Record:
    """The key fields of a match key compared with case: what is known of a record
    whose key alone was kept."""
    return dict(zip(keys, _parts(key, len(keys)), strict=True))


def in_two_cases(
    pair: tuple[str, str], keys: Sequence[str], record_of: Callable[[str], Record | None]
) -> DuplicateKey:
    """The refusal of two source records whose match keys (`pair`, from `case_clash`)
    differ only in case, for a destination comparing keys without case: each named
    as `record_of` finds it, else by its key alone."""
    first, second = (record_of(key) or key_record(key, keys) for key in pair)
    return DuplicateKey(display_key(first, keys), first, second, cases=True)


def display_key(record: Record, keys: Sequence[str]) -> str:
    """The key values as people read them: "alice" or "sales / alice"."""
    if len(keys) == 1:
        return str(record.get(keys[0], ""))
    return KEY_SEPARATOR.join([str(record.get(field, "")) for field in keys])


class DuplicateKey(BadInput):
    """Two source records share a key: the plan cannot know which one is meant — even
    when one of them failed (`failed`: why the second did), or both did (`first_failed`:
    why the first did too), for its object is then both held as it is and planned from
    the other, or held by two records the source may mean either of. `cases`: their
    keys differ only in case, and the destination compares keys without case
    (`in_two_cases`). `places`: where the source holds each of the two (a file's lines,
    a sheet's rows: "hr.csv:12"), when it can tell (`placed`)."""

    def __init__(
        self,
        key: str,
        first: Record,
        second: Record,
        failed: str | None = None,
        match: str | None = None,
        first_failed: str | None = None,
        *,
        cases: bool = False,
        places: tuple[str, str] | None = None,
        fields: Sequence[str] = (),
    ) -> None:
        self.key, self.first, self.second, self.failed = key, first, second, failed
        self.match = match
        """With `failed`: the match key the records share."""
        self.first_failed = first_failed
        self.cases = cases
        self.places = places
        self.fields = tuple(fields)
        """The key fields, with `places` (to name them)."""
        where = ("", "") if places is None else (f"{places[0]} ", f"{places[1]} ")
        if cases:
            super().__init__(
                f"two source records have the key {key!r} in two cases: {where[0]}"
                f"{shown(first)} and {where[1]}{shown(second)}; the destination compares "
                "keys without case and would hold both as one object: make the keys "
                "unique in the source whatever their case, or set case_insensitive = true"
            )
            return
        before = f" (which failed: {first_failed})" if first_failed is not None else ""
        which = f" (which failed: {failed})" if failed is not None else ""
        if places is not None:
            named = KEY_SEPARATOR.join(fields) if fields else "the key"
            quoted = msgspec.json.encode(key).decode()
            super().__init__(
                f"{places[0]} and {places[1]} both have {named} {quoted}: "
                f"{shown(first)}{before} and {shown(second)}{which}; make the key unique "
                "in the source (or choose other key fields)"
            )
            return
        super().__init__(
            f"two source records have the key {key!r}: {shown(first)}{before} and "
            f"{shown(second)}{which}; make the key unique in the source (or choose other "
            "key fields)"
        )

    def placed(self, places: tuple[str, str], fields: Sequence[str]) -> DuplicateKey:
        """The same refusal, naming where the source holds each record (and the key as
        the first holds it: the second's may have spaces around it)."""
        return DuplicateKey(
            display_key(self.first, fields) if self.first and not self.cases else self.key,
            self.first,
            self.second,
            self.failed,
            self.match,
            self.first_failed,
            cases=self.cases,
            places=places,
            fields=fields,
        )


def shown(record: Record) -> str:
    return msgspec.json.encode(record, order="sorted").decode()


# The ASCII text a character that is not ASCII may stand for in a key as the run
# compares it (a full scan of Unicode: tests/unit/test_key_parts.py). With case, NFC
# turns the Kelvin sign into K, the Greek question mark into ";", the Greek varia into
# "`". Without case, besides, the long s (U+017F) folds to s, "ß" and "ẞ" to ss, the
# ligatures "ﬀ" "ﬁ" "ﬂ" "ﬃ" "ﬄ" "ﬅ" "ﬆ" to ff, fi, fl, ffi, ffl, st; and other letters
# fold to an ASCII letter before a mark or a modifier letter, or after a modifier letter
# ("İ" to "i̇", "ŉ" to an apostrophe letter and n, "ẚ" to a and a half ring).
STANDS_FOR_WITH_CASE = ("K", ";", "`")
STANDS_FOR_WITHOUT_CASE = (";", "`", "ff", "ffi", "ffl", "fi", "fl", "k", "s", "ss", "st")


def key_parts(value: str, case_insensitive: bool) -> list[str] | None:
    """The texts every value the run takes for the key `value` holds as they are (in
    `value`'s key as the run compares it, see `match_key`: the ASCII characters no other
    character may stand for), without regard to case where `case_insensitive`; None
    where there is none. A value spelled with spaces around it, in another Unicode form,
    in another case where keys compare without it, holds each of them: a service that
    finds the values holding some text (SCIM's `co`) finds every such spelling, and
    maybe others. "straße" and "STRASSE", one key without case, share "tra" and "e"."""
    key = _key_part(value, case_insensitive)
    if key is None:
        return None
    stable = [char.isascii() for char in key]
    stands_for = STANDS_FOR_WITHOUT_CASE if case_insensitive else STANDS_FOR_WITH_CASE
    for text in stands_for:
        at = key.find(text)
        while at >= 0:
            stable[at : at + len(text)] = [False] * len(text)
            at = key.find(text, at + 1)
    if case_insensitive and not key.isascii():
        # A letter before a mark or a modifier letter, or after a modifier letter, may
        # be one another letter folds to ("İ" is "i̇", "ŉ" an apostrophe letter and n).
        for at, char in enumerate(key):
            kind = unicodedata.category(char)
            if (kind[0] == "M" or kind == "Lm") and at > 0:
                stable[at - 1] = False
            if kind == "Lm" and at + 1 < len(key):
                stable[at + 1] = False
    parts, run = [], ""
    for char, sure in zip(key, stable, strict=True):
        if sure:
            run += char
        elif run:
            parts.append(run)
            run = ""
    if run:
        parts.append(run)
    return parts or None
