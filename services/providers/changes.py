"""Finding changed records by a field (CSV, SQLite, a SQL query or text column,
plugins): the change-reader helpers. A PostgreSQL or MySQL table's date-time or number
column lets its server pick the rows and keeps only the highest value read
(`HighestRead`).

A record has changed since a watermark when its change field holds a value at or after
it. Values compare as numbers when both are whole or decimal numbers ("9" < "10"), as
the moments they say when both are timestamps (ISO 8601 or LDAP generalized time, in any
zone and precision: "2026-11-21T10:00:00.25Z" is after "2026-11-21T10:00:00Z", and
"2026-10-25T01:15:00+01:00" after "2026-10-25T01:30:00+02:00"; one without a zone is
taken as UTC), and otherwise as text. A record with no value in the field is always
read: it cannot be shown unchanged.

A value that is not of the field's kind — neither a number nor a timestamp (ISO 8601,
or LDAP generalized time: "N/A", "2026-13-45", "yesterday"), or a number where the
values are timestamps, or the other way round — would compare as text above every
timestamp and hide every later change. Such a value is never the watermark: its record
is read as changed and a warning names it; so is a timestamp on the last day Python holds
(9999-12-31, or past it in UTC: PostgreSQL's infinity as read), which says no time. The
field's kind is the watermark's; with no watermark (a full run), the kind most of the
values are. A watermark stored that is of
neither kind (kept before values were checked) is ignored with a warning: every record
is read, as a full run (`fell_back`).
"""

from __future__ import annotations

import itertools
import math
import operator
import re
from collections.abc import AsyncIterator, Callable, Sequence
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal, InvalidOperation
from typing import Any, Literal, cast

import structlog

from core.errors import BadInput
from schemas.values import Record

log = structlog.get_logger("idsync.changes")

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


_GENERALIZED_TIME = re.compile(
    r"(\d{4})(\d\d)(\d\d)(\d\d)(\d\d)?(\d\d)?(?:[.,](\d+))?(Z|[+-]\d{4})"
)
"""LDAP generalized time ("20261121100000Z", "20261121100000.0Z", "2026112110+0100")."""


def _generalized(text: str) -> datetime | None:
    found = _GENERALIZED_TIME.fullmatch(text)
    if found is None:
        return None
    year, month, day, hour, minute, second, fraction, zone = found.groups()
    try:
        moment = datetime(int(year), int(month), int(day), int(hour), int(minute or 0))
        moment += timedelta(seconds=int(second or 0))  # a leap second's 60 is the next
    except ValueError:
        return None
    if fraction:  # of the last unit given
        unit = 1 if second else 60 if minute else 3600
        moment += timedelta(seconds=unit * float(f"0.{fraction}"))
    if zone != "Z":
        sign = 1 if zone[0] == "+" else -1
        try:
            moment -= sign * timedelta(hours=int(zone[1:3]), minutes=int(zone[3:5]))
        except OverflowError:
            return _beyond(moment)
    return moment.replace(tzinfo=UTC)


def _beyond(moment: datetime) -> datetime:
    """A moment whose UTC falls past the days Python holds: the first or the last there
    is (the last is never the watermark: `_LAST_DAY`)."""
    return (datetime.max if moment.year == datetime.max.year else datetime.min).replace(tzinfo=UTC)


def _moment(text: str) -> datetime | None:
    """The moment a timestamp says, in UTC (one without a zone taken as UTC); None for text
    that is no timestamp."""
    if text[4:5] != "-":  # fromisoformat also takes "20261121T10": LDAP's, or no date
        return _generalized(text)
    if not (text[:4].isascii() and text[:4].isdigit()):
        return None
    return _iso(text)


def _iso(text: str) -> datetime | None:
    """`_moment` of a text starting as a date does ("2026-"): ISO 8601's."""
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        return None
    zone = moment.tzinfo
    if zone is UTC:  # "Z", "+00:00": the moment as it is
        return moment
    if zone is None:
        return moment.replace(tzinfo=UTC)
    try:
        return moment.astimezone(UTC)
    except OverflowError:
        return _beyond(moment)


_LAST_DAY = datetime(9999, 12, 31, tzinfo=UTC)
"""A timestamp on the last day Python holds says no time a record changed: PostgreSQL's
infinity read as 9999-12-31T23:59:59.999999 (9999-12-31 from a date). As the watermark
it would hide every later change."""


def endless(text: str) -> bool:
    """Whether a watermark says no time nor number a record changed at: a timestamp on the
    last day (`_LAST_DAY`), infinity or NaN — kept by a run before such values were passed
    over, it would hide every later change."""
    if text.strip().lower().lstrip("+-") in ("nan", "inf", "infinity"):
        return True
    moment = _value(text)[1]
    return isinstance(moment, datetime) and moment >= _LAST_DAY


Value = tuple[str, Decimal | datetime | None]
"""A change value, and the number or the moment it is (None: text)."""


def _value(text: str) -> Value:
    if text[4:5] == "-" and text[:4].isascii() and text[:4].isdigit():
        return text, _iso(text)  # a date's start ("2026-"): no number's text
    number = _number(text)
    return text, number if number is not None else _moment(text)


def _order(a: Value, b: Value) -> int:
    """-1, 0 or 1 as `a` is before, at or after `b`: numbers as numbers, timestamps as the
    moments they say (whatever their zone or precision), else as text."""
    x, y = a[1], b[1]
    if isinstance(x, Decimal) and isinstance(y, Decimal):
        return (x > y) - (x < y)
    if isinstance(x, datetime) and isinstance(y, datetime):
        return (x > y) - (x < y)
    return (a[0] > b[0]) - (a[0] < b[0])


def compare(a: str, b: str) -> int:
    """-1, 0 or 1 as `a` is before, at or after `b`: numbers as numbers, timestamps as the
    moments they say, else as text."""
    return _order(_value(a), _value(b))


Kind = Literal["number", "timestamp"]


def _kind(value: Value) -> Kind | None:
    moment = value[1]
    if moment is None:
        return None
    return "timestamp" if isinstance(moment, datetime) else "number"


def kind_of(text: str) -> Kind | None:
    """ "number", "timestamp" (ISO 8601 or LDAP generalized time), or None: a value that
    cannot say when its record changed ("N/A", "2026-13-45", "yesterday")."""
    return _kind(_value(text))


_WARNED = 20
"""The malformed values warned of one by one; past them, a count at the end."""


class FieldChanges:
    """Filters records by their change field and keeps the highest value seen, of the
    field's kind only (`checked`; False: every value compared, as an LDAP server does)."""

    def __init__(self, field: str, since: str | None, *, checked: bool = True) -> None:
        self.field = field
        self.checked = checked
        self.warnings: list[str] = []
        """The values not used as the watermark, and a stored watermark ignored."""
        self._stale: str | None = None
        self._kind: Kind | None = None
        if since is not None and checked:
            self._kind = kind_of(since)
            if self._kind is None or endless(since):
                what = (
                    "says no time nor number"
                    if self._kind
                    else "is neither a timestamp nor a number"
                )
                self._kind = None
                self._stale = (
                    f"the stored watermark {since!r} of changes field {field!r} {what}: "
                    "ignored, every record read"
                )
                self._warn(self._stale)
                since = None
        self.since = since
        self._since = None if since is None else _value(since)
        self._highest: dict[Kind | None, Value] = {}
        self._counts: dict[Kind, int] = {}
        self._odd: list[tuple[str, str | None, Kind | None]] = []
        """With no watermark: the values of either kind, and their records (a few)."""
        self._skipped = 0

    @property
    def highest(self) -> str | None:
        value = self._top()
        return None if value is None else value[0]

    def wanted(self, record: Record) -> bool:
        value = record.get(self.field)
        return self.wanted_value(value if isinstance(value, str) else None, record)

    def wanted_value(self, value: str | None, record: Record | list[str] | None = None) -> bool:
        """Whether a record whose change field holds `value` is read (None: no single
        value — always read; one not of the field's kind too). `record` (or a row, its
        first cell) names it in a warning."""
        if not value:
            return True
        seen = _value(value)
        if not self.checked:
            top = self._highest.get(None)
            if top is None or _order(seen, top) > 0:
                self._highest[None] = seen
            return self._since is None or _order(seen, self._since) >= 0
        # Compared below as they are: a value of the field's kind with the highest of its
        # kind and with the watermark (of the field's kind too), a moment with a moment, a
        # number with a number, as `_order` compares them.
        moment = seen[1]
        kind: Kind | None = (
            "timestamp" if isinstance(moment, datetime) else None if moment is None else "number"
        )
        if kind is None or (self._kind is not None and kind != self._kind):
            self._note(value, _name(record), f"is not a {self._kind or 'timestamp or a number'}")
            return True
        if kind == "timestamp" and cast(datetime, moment) >= _LAST_DAY:
            self._note(value, _name(record), "says no time (infinity: the last day there is)")
            return True
        if self._kind is None:
            self._counts[kind] = self._counts.get(kind, 0) + 1
            if len(self._odd) < 2 * _WARNED:
                self._odd.append((value, _name(record), kind))
        top = self._highest.get(kind)
        if top is None or cast(Any, moment) > top[1]:
            self._highest[kind] = seen
        return self._since is None or cast(Any, moment) >= self._since[1]

    def wanted_values(
        self, values: Sequence[str | None], records: Sequence[Record | list[str]]
    ) -> list[bool]:
        """`wanted_value` of each value (of the record beside it), with the same answers,
        watermark and warnings. A batch of ISO 8601 timestamps all in UTC, or all without
        a zone, is decided at once once the field's kind is a timestamp and a watermark is
        set (an incremental run's common case): the values parsed by `fromisoformat` and
        compared with the watermark's moment in C, no call per value."""
        moments = self._utc_moments(values)
        if moments is None:
            return [self.wanted_value(v, r) for v, r in zip(values, records, strict=True)]
        since = cast(Value, self._since)[1]
        naive = moments[0].tzinfo is None
        latest = max(moments)
        top = self._highest.get("timestamp")
        latest_utc = latest.replace(tzinfo=UTC) if naive else latest
        if top is None or latest_utc > cast(datetime, top[1]):
            self._highest["timestamp"] = (cast(str, values[moments.index(latest)]), latest_utc)
        if naive:
            return list(map(cast(datetime, since).replace(tzinfo=None).__le__, moments))
        return list(map(cast(datetime, since).__le__, moments))

    def _utc_moments(self, values: Sequence[str | None]) -> list[datetime] | None:
        """The moments of a batch `wanted_values` decides at once (see there); None for
        any other batch, each value then decided by `wanted_value`."""
        if not (values and self.checked and self._kind == "timestamp" and self._since):
            return None
        try:
            if not all(map(_ISO_DATE_START.match, cast(Sequence[str], values))):
                return None
            moments = list(map(datetime.fromisoformat, cast(Sequence[str], values)))
        except (TypeError, ValueError):  # no text (None), or no timestamp: one by one
            return None
        zones = set(map(operator.attrgetter("tzinfo"), moments))
        if zones != {UTC} and zones != {None}:
            return None
        latest = max(moments)
        if (latest.replace(tzinfo=UTC) if latest.tzinfo is None else latest) >= _LAST_DAY:
            return None
        return moments

    def _note(self, value: str, name: str | None, what: str) -> None:
        if len(self.warnings) >= _WARNED:
            self._skipped += 1
            return
        of = f" of record {name}" if name else ""
        self._warn(
            f"changes value {value!r}{of} {what}: read as changed, not used as the watermark"
        )

    def _warn(self, message: str) -> None:
        self.warnings.append(message)
        log.warning(message, field=self.field)

    def _top(self) -> Value | None:
        """The highest value of the field's kind: with no watermark, the kind most values
        are (the first seen on a tie); the others warned of here, once."""
        if not self.checked:
            return self._highest.get(None)
        if self._kind is None and self._counts:
            kinds = sorted(self._counts, key=lambda k: -self._counts[k])  # stable: first seen
            self._kind = kinds[0]
            for value, name, kind in self._odd:
                if kind != self._kind:
                    self._note(value, name, f"is not a {self._kind}")
            others = sum(n for k, n in self._counts.items() if k != self._kind)
            self._skipped += max(0, others - sum(k != self._kind for _, _, k in self._odd))
            self._odd = []
        return self._highest.get(self._kind)

    def fell_back(self) -> str | None:
        """Why every record was read: the stored watermark was of neither kind."""
        return self._stale

    def watermark(self) -> str | None:
        """The highest value seen of the field's kind, never before `since` (a watermark
        does not go back)."""
        since, highest = self._since, self._top()
        if self._skipped:
            self._warn(
                f"{self._skipped} more values of changes field {self.field!r} not of its kind: "
                "read as changed, not used as the watermark"
            )
            self._skipped = 0
        if highest is None or (since is not None and _order(highest, since) < 0):
            return self.since
        return highest[0]


_ISO_DATE_START = re.compile(r"[0-9]{4}-")
"""The start of a text `_value` reads as ISO 8601 ("2026-")."""


def _name(record: Record | list[str] | None) -> str | None:
    """A record named by its first field's value (an id, most often)."""
    if isinstance(record, list):
        return repr(record[0]) if record and record[0] else None
    if record:
        first = next(iter(record.values()))
        return repr(first) if isinstance(first, str) and first else None
    return None


async def filtered(
    batches: AsyncIterator[list[Record]], changes: FieldChanges
) -> AsyncIterator[list[Record]]:
    """The batches of a whole read with only the changed records (empty batches dropped)."""
    field = changes.field
    async for batch in batches:
        values = [v if isinstance(v := record.get(field), str) else None for record in batch]
        kept = list(itertools.compress(batch, changes.wanted_values(values, batch)))
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


_ENDLESS = (datetime.min, datetime.max)


def ordinary(raw: object) -> bool:
    """Whether a change column's value as the driver decoded it may be the watermark: not
    one beyond every moment or number (PostgreSQL's infinity and -infinity, decoded as
    Python's first and last moment or day; a NaN). Such a row is read as any other; the
    watermark is the highest of the others — as the watermark, infinity or NaN read only
    the rows holding it from then on, no change seen again. (A value given back as text
    among dates — MariaDB's 0000-00-00, 2026-02-00, which Python's dates do not hold —
    is passed over by `HighestRead.see` likewise.)"""
    if isinstance(raw, datetime):
        return raw.replace(tzinfo=None) not in _ENDLESS
    if isinstance(raw, date):
        return raw not in (date.min, date.max)
    if isinstance(raw, float):
        return math.isfinite(raw)
    if isinstance(raw, Decimal):
        return raw.is_finite()
    return True


class HighestRead:
    """The highest value of the change column a read filtered on the server gave back (SQL
    tables): compared as the driver decoded them — datetimes, numbers, text by code point,
    as the server compared them — so the watermark follows the column's own order."""

    def __init__(self, since: str | None, text: Callable[[object], str]) -> None:
        self.since = since
        self._text = text
        self._highest: Any = None

    def see(self, raw: object) -> None:
        if raw is None or not ordinary(raw):
            return
        text, highest = isinstance(raw, str), self._highest
        if highest is not None and text != isinstance(highest, str):
            if text:
                return  # a value the driver gave back as text among its dates (MariaDB)
            highest = None  # the first date after such values
        if highest is None or raw > highest:
            self._highest = raw

    def watermark(self) -> str | None:
        """The highest value read as canonical text; `since` when no row was read."""
        return self.since if self._highest is None else self._text(self._highest)
