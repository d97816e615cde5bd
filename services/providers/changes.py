"""Finding changed records by a field (CSV, SQLite, a SQL query, plugins): the
change-reader helpers. A PostgreSQL or MySQL table lets its server pick the rows and
keeps only the highest value read (`HighestRead`).

A record has changed since a watermark when its change field holds a value at or after
it. Values compare as numbers when both are whole or decimal numbers ("9" < "10"), and
otherwise as text, code point by code point — so timestamps compare correctly only in
one format and one zone (ISO 8601 in UTC: "2026-11-21T10:00:00Z"). A record with no
value in the field is always read: it cannot be shown unchanged.
"""

from __future__ import annotations

import re
from collections.abc import AsyncIterator, Callable
from decimal import Decimal, InvalidOperation
from typing import Any

from core.errors import BadInput
from schemas.values import Record

_NOT_IN_A_NUMBER = re.compile(r"[^\d\s+\-.eE_]")
"""A character no finite number's text holds (a timestamp's "T" or ":"): such text is no
number, found without the exception `Decimal` raises (most change fields are timestamps)."""


def _number(text: str) -> Decimal | None:
    if _NOT_IN_A_NUMBER.search(text):
        return None
    try:
        number = Decimal(text.strip())
    except InvalidOperation:
        return None
    return number if number.is_finite() else None


Value = tuple[str, Decimal | None]
"""A change value, and the number it is (None: text)."""


def _value(text: str) -> Value:
    return text, _number(text)


def _order(a: Value, b: Value) -> int:
    """-1, 0 or 1 as `a` is before, at or after `b` (numbers as numbers, else text)."""
    x, y = a[1], b[1]
    if x is not None and y is not None:
        return (x > y) - (x < y)
    return (a[0] > b[0]) - (a[0] < b[0])


def compare(a: str, b: str) -> int:
    """-1, 0 or 1 as `a` is before, at or after `b` (numbers as numbers, else text)."""
    return _order(_value(a), _value(b))


class FieldChanges:
    """Filters records by their change field and keeps the highest value seen."""

    def __init__(self, field: str, since: str | None) -> None:
        self.field = field
        self.since = since
        self._since = None if since is None else _value(since)
        self._highest: Value | None = None

    @property
    def highest(self) -> str | None:
        return None if self._highest is None else self._highest[0]

    def wanted(self, record: Record) -> bool:
        value = record.get(self.field)
        return self.wanted_value(value if isinstance(value, str) else None)

    def wanted_value(self, value: str | None) -> bool:
        """Whether a record whose change field holds `value` is read (None: no single
        value — always read)."""
        if not value:
            return True
        seen = _value(value)
        if self._highest is None or _order(seen, self._highest) > 0:
            self._highest = seen
        return self._since is None or _order(seen, self._since) >= 0

    def watermark(self) -> str | None:
        """The highest value seen, never before `since` (a watermark does not go back)."""
        since, highest = self._since, self._highest
        if highest is None or (since is not None and _order(highest, since) < 0):
            return self.since
        return highest[0]


async def filtered(
    batches: AsyncIterator[list[Record]], changes: FieldChanges
) -> AsyncIterator[list[Record]]:
    """The batches of a whole read with only the changed records (empty batches dropped)."""
    async for batch in batches:
        kept = [record for record in batch if changes.wanted(record)]
        if kept:
            yield kept


def needs_field(provider: str, field: str | None) -> str:
    """The change field of a provider that has no change marker of its own."""
    if field is None:
        raise BadInput(
            f"{provider} has no change marker of its own: set the job's changes.field to the "
            "source field holding a timestamp or a change counter, e.g. "
            'changes = { field = "modified_at" }'
        )
    return field


class HighestRead:
    """The highest value of the change column a read filtered on the server gave back (SQL
    tables): compared as the driver decoded them — datetimes, numbers, text by code point,
    as the server compared them — so the watermark follows the column's own order."""

    def __init__(self, since: str | None, text: Callable[[object], str]) -> None:
        self.since = since
        self._text = text
        self._highest: Any = None

    def see(self, raw: object) -> None:
        if raw is not None and (self._highest is None or raw > self._highest):
            self._highest = raw

    def watermark(self) -> str | None:
        """The highest value read as canonical text; `since` when no row was read."""
        return self.since if self._highest is None else self._text(self._highest)
