"""The canonical text forms both SQL providers give typed values (PostgreSQL, MySQL): json
compact with sorted keys, booleans from the usual words, decimals at the column's scale,
date-times with a space or a "T"; and how a name becomes a quoted identifier."""

from __future__ import annotations

import json
from datetime import datetime
from decimal import Decimal, InvalidOperation

from core.errors import BadInput

_TRUE = ("t", "true", "y", "yes", "on", "1")
_FALSE = ("f", "false", "n", "no", "off", "0")


def quoted(name: str, mark: str, tag: str) -> str:
    """An SQL identifier for any name: between `mark`s, embedded marks doubled."""
    if "\x00" in name:
        raise BadInput(f"{tag}: the name {name!r} contains a NUL character")
    return mark + name.replace(mark, mark * 2) + mark


def compact_json(text: str) -> str:
    """json as read: compact, keys sorted, so key order is no change."""
    return json.dumps(json.loads(text), sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def parse_bool(text: str) -> bool:
    """A boolean's word ("t", "yes", "on", "1", …); ValueError for another."""
    if text.lower() in _TRUE:
        return True
    if text.lower() in _FALSE:
        return False
    raise ValueError(text)


def parse_decimal(text: str, scale: int | None) -> Decimal:
    """A decimal number, with `scale` digits after the point when given; ValueError for
    text that is no number."""
    try:
        number = Decimal(text)
    except InvalidOperation:
        raise ValueError(text) from None
    return number.quantize(Decimal(1).scaleb(-scale)) if scale is not None else number


def parse_moment(text: str) -> datetime:
    """An ISO 8601 date-time, its date and time apart by "T" or a space."""
    return datetime.fromisoformat(text.replace(" ", "T", 1))
