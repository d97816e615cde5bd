"""An object's identity: the key two records share when they are the same object, and
the key as people read it."""

from __future__ import annotations

import unicodedata
from collections.abc import Sequence

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
    if case_insensitive:
        # casefold can produce decomposed text (e.g. "İ"), so compose again.
        part = part.casefold()
        return part if part.isascii() else unicodedata.normalize("NFC", part)
    return part


def display_key(record: Record, keys: Sequence[str]) -> str:
    """The key values as people read them: "alice" or "sales / alice"."""
    if len(keys) == 1:
        return str(record.get(keys[0], ""))
    return KEY_SEPARATOR.join([str(record.get(field, "")) for field in keys])


class DuplicateKey(BadInput):
    """Two source records share a key: the plan cannot know which one is meant."""

    def __init__(self, key: str, first: Record, second: Record) -> None:
        self.key, self.first, self.second = key, first, second
        super().__init__(
            f"two source records have the key {key!r}: {shown(first)} and {shown(second)}; "
            "make the key unique in the source (or choose other key fields)"
        )


def shown(record: Record) -> str:
    return msgspec.json.encode(record, order="sorted").decode()
