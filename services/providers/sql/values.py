"""The canonical text forms both SQL providers give typed values (PostgreSQL, MySQL): json
compact with sorted keys, booleans from the usual words, decimals at the column's scale,
date-times with a space or a "T", numbers and times as Python writes them; a record value
as its column gives it back; and how a name becomes a quoted identifier.

Each provider's Column says its `kind`: "int", "decimal", "float", "bool", "date", "time",
"json", "binary", "text" (compared as stored) and its own date-time kinds."""

from __future__ import annotations

import json
import re
import struct
from collections.abc import Callable, Sequence
from datetime import UTC, date, datetime, time, timedelta
from decimal import MAX_EMAX, MAX_PREC, MIN_EMIN, Context, Decimal, InvalidOperation
from typing import Protocol

from core.errors import BadInput
from schemas.values import Binary, Value, as_text, split_text

from ..cells import LIST_JOINER

_TRUE = ("t", "true", "y", "yes", "on", "1")
_FALSE = ("f", "false", "n", "no", "off", "0")


class TypedColumn(Protocol):
    """A column as a provider's catalogue describes it."""

    @property
    def name(self) -> str: ...

    @property
    def declared(self) -> str: ...

    @property
    def scale(self) -> int | None: ...

    @property
    def kind(self) -> str: ...

    @property
    def array(self) -> bool: ...

    @property
    def width(self) -> int | None:
        """A fixed-width text column's n (char(n)), whose values read back otherwise
        than given: padded with spaces to n (PostgreSQL), without their trailing spaces
        (MySQL). None for any other column."""
        ...

    @property
    def empty_text(self) -> bool:
        """A text column NOT NULL: no value is written to it as empty text (which means no
        value too), never as NULL, which it refuses."""
        ...

    @property
    def folds(self) -> bool:
        """Its equal values need not be the same text ("Ann" = "ann"): citext, a collation
        without case."""
        ...

    @property
    def fraction(self) -> int:
        """The digits of a second a date-time or time column holds (0 to 6), which the
        server cuts or rounds a finer value to; 6 for any other column."""
        ...

    @property
    def length(self) -> int | None:
        """A text column's bound (varchar(n)): a value longer than n by spaces alone is
        kept without them (cut to n), a longer one refused. None for any other column."""
        ...

    @property
    def keeps_text(self) -> bool:
        """Whether a text column keeps a text as given: not MySQL's ENUM or SET, which keep
        their members as declared ("active" as "Active", "y,x" as "x,y")."""
        ...


def quoted(name: str, mark: str, tag: str) -> str:
    """An SQL identifier for any name: between `mark`s, embedded marks doubled."""
    if "\x00" in name:
        raise BadInput(f"{tag}: the name {name!r} contains a NUL character")
    return mark + name.replace(mark, mark * 2) + mark


class _Number(str):
    """A JSON number's canonical text, written bare."""


def _json_number(text: str) -> _Number:
    """A JSON number by its value, every digit kept (jsonb and MariaDB's JSON keep them:
    through a float, 12345678901234567.89 became 1.2345678901234568e+16 and 1e400
    "Infinity"): a whole number in digits (1e2 and 100.0 are 100, as jsonb reads them),
    another as Python writes the float when the float is exactly it (2.5, 1e-07), else
    its own digits without trailing zeros (in scientific notation only far from 1)."""
    number = Decimal(text)
    if not number:
        return _Number("0")
    sign, digits, exponent = number.as_tuple()
    assert isinstance(exponent, int)  # a JSON number is finite
    kept = "".join(map(str, digits)).rstrip("0")
    exponent += len(digits) - len(kept)
    minus = "-" if sign else ""
    if exponent >= 0:
        return _Number(minus + kept + "0" * exponent)
    as_float = float(number)
    if Decimal(repr(as_float)) == number:
        return _Number(repr(as_float))
    point = len(kept) + exponent  # digits before the point
    if -20 < point <= 40:
        whole = kept[:point] if point > 0 else "0"
        return _Number(f"{minus}{whole}.{'0' * -point}{kept[max(point, 0) :]}")
    mantissa = kept[0] + ("." + kept[1:] if len(kept) > 1 else "")
    return _Number(f"{minus}{mantissa}e{point - 1:+03d}")


def _compact(value: object) -> str:
    if isinstance(value, _Number):
        return str(value)
    if isinstance(value, dict):
        items = (f"{_compact(key)}:{_compact(value[key])}" for key in sorted(value))
        return "{" + ",".join(items) + "}"
    if isinstance(value, list):
        return "[" + ",".join(_compact(item) for item in value) + "]"
    return json.dumps(value, ensure_ascii=False)


def compact_json(text: str) -> str:
    """json as read: compact, keys sorted, so key order is no change; numbers by their
    value, every digit kept (`_json_number`)."""
    return _compact(json.loads(text, parse_int=_json_number, parse_float=_json_number))


def parse_bool(text: str) -> bool:
    """A boolean's word ("t", "yes", "on", "1", …); ValueError for another."""
    if text.lower() in _TRUE:
        return True
    if text.lower() in _FALSE:
        return False
    raise ValueError(text)


_EXACT = Context(prec=MAX_PREC, Emax=MAX_EMAX, Emin=MIN_EMIN)
"""Decimal arithmetic that keeps every digit: a numeric(38,10) holds more than the
default context's 28, which made quantizing its values fail."""


def parse_decimal(text: str, scale: int | None) -> Decimal:
    """A decimal number, with `scale` digits after the point when given; ValueError for
    text that is no number, or one with more digits after the point than `scale` (the
    server would round it: `refused`)."""
    try:
        number = Decimal(text)
        if number.is_zero():  # no decimal column holds a negative zero: "-0.00" is 0.00
            number = number.copy_abs()
        if scale is None:
            return number
        exact = number.quantize(Decimal(1).scaleb(-scale, _EXACT), context=_EXACT)
    except InvalidOperation:
        raise ValueError(text) from None
    if number.is_finite() and exact != number:
        raise ValueError(text)
    return exact


def bends(column: TypedColumn) -> bool:
    """Whether the column may bend a value into another rather than refuse it (`refused`):
    a decimal of a fixed scale, a date."""
    return (column.kind == "decimal" and column.scale is not None) or (
        column.kind in ("date", "int") and not column.array
    )


def refused(column: TypedColumn, text: str) -> str | None:
    """Why a value is refused that the server would bend into another rather than refuse:
    a number with more digits after the point than a decimal column's scale, which both
    servers round (99.999 stored as 100.00); a date-time with a time of day in a date
    column, which both keep the date of. None for any other value (a text the column
    cannot hold the server refuses itself, naming it)."""
    if column.kind == "date":
        return _time_of_day(column, text.strip())
    if column.kind == "int":
        return _fraction(column, text.strip())
    if column.kind != "decimal" or column.scale is None:
        return None
    try:
        parse_decimal(text.strip(), column.scale)
    except ValueError:
        try:
            Decimal(text.strip())
        except InvalidOperation:
            return None
        return (
            f"{text!r} has more than {column.scale} digits after the point, which "
            f"{column.declared} would round; round it at the source, or widen the column"
        )
    return None


_FINER = re.compile(r"\.(\d{7,})")
"""A fraction of a second finer than a microsecond."""
_ONE_DIGIT_PARTS = re.compile(
    r"(\d{4})([-/.])(\d{1,2})\2(\d{1,2})(?:([T ])(\d{1,2}):(\d{1,2})(?::(\d{1,2}))?)?(?![\d:])"
)
"""A date, and a time of day, whose parts may have one digit ("2026-1-2 3:4:5"), the
year first and apart by "-", "/" or "." ("2026/01/02", which both servers take)."""
_ONE_DIGIT_HOUR = re.compile(r"\d(?=:\d\d)")


def _finer(text: str) -> tuple[str, int]:
    """The text without a fraction of a second finer than a microsecond, and that fraction
    in whole microseconds as both servers round it (PostgreSQL: `rint(frac * 1e6)` of the
    double; MariaDB takes the value idsync sends, rounded so too) — Python cut it, so
    04:05.1234567 was 04:05.123456 here and 04:05.123457 in the table, never equal."""
    found = _FINER.search(text)
    if found is None:
        return text, -1
    micro = round(float("." + found[1]) * 1_000_000)
    return text[: found.start()] + text[found.end() :], micro


def parse_int(text: str) -> int:
    """A whole number: digits, or a number whose fraction is nought (4.0, 1e2), as MySQL
    takes it in an integer column; ValueError for any other text."""
    try:
        return int(text)
    except ValueError:
        try:
            number = Decimal(text)
        except InvalidOperation:
            raise ValueError(text) from None
        if not number.is_finite() or number != number.to_integral_value():
            raise ValueError(text) from None
        return int(number)


def _fraction(column: TypedColumn, text: str) -> str | None:
    """Why a number with a fraction is refused in an integer column (`refused`): MariaDB
    rounds it (4.5 stored as 5), PostgreSQL refuses it."""
    try:
        int(text)
        return None
    except ValueError:
        pass
    try:
        number = Decimal(text)
    except InvalidOperation:
        return None  # no number: the server refuses it, naming it
    if not number.is_finite() or number == number.to_integral_value():
        return None
    return (
        f"{text!r} has digits after the point, which {column.declared} cannot hold; round "
        "it at the source, or use a decimal column"
    )


def _time_of_day(column: TypedColumn, text: str) -> str | None:
    """Why a date-time with a time of day is refused in a date column (`refused`)."""
    try:
        parse_date(text)
    except ValueError:
        try:
            parse_moment(text)
        except ValueError:
            return None  # no date-time: the server refuses it, or takes it as it says
        return (
            f"{text!r} has a time of day, which {column.declared} would drop; map the "
            "date alone, or use a date-time column"
        )
    return None


def _padded(text: str) -> str:
    """A date or date-time with its one-digit parts given two and its date apart by "-"
    ("2026-1-2 3:4:5" and "2026/1/2 3:4:5", which both servers take, are
    "2026-01-02T03:04:05"), for Python to read as ISO 8601."""
    found = _ONE_DIGIT_PARTS.match(text)
    if found is None:
        return text
    year, _, month, day, apart, hour, minute, second = found.groups()
    made = f"{year}-{int(month):02d}-{int(day):02d}"
    if apart is not None:
        made += f"T{int(hour):02d}:{int(minute):02d}"
        made += f":{int(second):02d}" if second is not None else ""
    return made + text[found.end() :]


def parse_moment(text: str) -> datetime:
    """An ISO 8601 date-time, its date and time apart by "T" or a space, its parts of one
    digit or two (`_padded`); a fraction of a second finer than a microsecond rounded to
    one (`_finer`)."""
    text, micro = _finer(_padded(text))
    moment = datetime.fromisoformat(text.replace(" ", "T", 1))
    return moment if micro < 0 else moment.replace(microsecond=0) + timedelta(microseconds=micro)


def parse_date(text: str) -> date:
    """A date: ISO 8601, its month and day of one digit or two ("2026-1-2", which both
    servers take), or a date-time at midnight — another database's DATETIME, a
    spreadsheet's "2026-01-02 00:00:00", in any zone: the servers keep its date. ValueError
    for another text, or a date-time with a time of day (`refused`)."""
    try:
        return date.fromisoformat(_padded(text))
    except ValueError:
        moment = parse_moment(text)
        if moment.time() != time():
            raise
        return moment.date()


def parse_time(text: str) -> time:
    """A time of day in ISO 8601, its hour of one digit or two ("9:00", which both servers
    take), a fraction finer than a microsecond rounded to one (`_finer`)."""
    if _ONE_DIGIT_HOUR.match(text):
        text = "0" + text
    text, micro = _finer(text)
    value = time.fromisoformat(text)
    if micro < 0:
        return value
    moment = datetime.combine(date(2000, 1, 1), value.replace(microsecond=0))
    moment += timedelta(microseconds=micro)
    if moment.day != 1:  # rounded up to midnight: the servers hold 24:00:00, Python not
        raise ValueError(text)
    return moment.time()


Plain = int | Decimal | float | date | time | str
"""A value of the kinds both providers hold alike."""


def parse_plain(kind: str, text: str, scale: int | None) -> Plain:
    """Text (stripped) as a value of the kinds both providers hold alike — int, decimal,
    float, date, time, json — or the text itself for another kind; ValueError when the
    column would refuse it."""
    if kind == "int":
        return int(text)
    if kind == "decimal":
        return parse_decimal(text, scale)
    if kind == "float":
        return float(text)
    if kind == "date":
        return parse_date(text)
    if kind == "time":
        return parse_time(text)
    if kind == "json":
        return compact_json(text)
    return text


def single(value: float, digits: int | None = None) -> str:
    """A number as a single-precision float column keeps it (about seven digits), as
    canonical text: that single exactly, as the driver gives it (PostgreSQL's real:
    34346.18 is 34346.1796875; MySQL's FLOAT, read as a DOUBLE), or its first `digits`
    significant ones (the six a server sends of a FLOAT in a job's SELECT: 34346.2)."""
    try:
        kept: float = struct.unpack("f", struct.pack("f", value))[0]
    except OverflowError:
        return repr(value)  # out of a single's range: the server refuses it
    return repr(float(f"{kept:.{digits}g}") if digits is not None else kept)


def moment_text(moment: datetime, zoned: bool) -> str:
    """A date-time in ISO 8601: one with a zone in UTC, ending "Z" where `zoned`."""
    if moment.tzinfo is not None:
        moment = moment.astimezone(UTC).replace(tzinfo=None)
    return moment.isoformat() + ("Z" if zoned else "")


def plain_text(raw: object) -> str:
    """A number, a date or a time the driver decoded, as canonical text (any other value's
    own text; datetimes are each provider's: `moment_text`)."""
    if isinstance(raw, float):
        return repr(raw)
    if isinstance(raw, Decimal):
        return format(raw, "f")
    if isinstance(raw, date | time):
        return raw.isoformat()
    return str(raw)


def change_column(tag: str, column: TypedColumn, ordered: bool) -> None:
    """BadInput for a change field whose column cannot order changes (`ordered`: a text,
    date-time or number column of single values)."""
    if column.array or not ordered:
        raise BadInput(
            f"{tag}: the change field {column.name!r} is a {column.declared} column; "
            "it must be a timestamp, a date, a number or text"
        )


def reads_as_given(column: TypedColumn | None) -> bool:
    """A column (or a field with none yet) that gives back the text it was given."""
    return column is None or (
        column.kind == "text" and not column.array and column.width is None and column.keeps_text
    )


def cut(text: str, length: int) -> str:
    """A text as a column of that bound keeps it: the spaces past `length` dropped;
    unchanged when more than spaces go past it (the column refuses it: the write fails,
    naming the value)."""
    if len(text) > length and not text[length:].strip(" "):
        return text[:length]
    return text


def fits(column: TypedColumn | None, values: Sequence[str]) -> bool:
    """Whether texts are each within the column's bound (or it has none)."""
    length = column.length if column is not None else None
    return length is None or not values or max(map(len, values)) <= length


def canonical_value(
    column: TypedColumn | None,
    value: Value,
    delimiter: str | None,
    canonical_text: Callable[[TypedColumn, str], str],
) -> Value:
    """A record value as this column would give it back; `canonical_text` the text a
    typed column's value reads back as."""
    if isinstance(value, Binary):
        return value if column is None or column.kind == "binary" else as_text(value, ";")
    if column is not None and column.kind == "binary":
        return Binary(as_text(value, delimiter or LIST_JOINER).encode())
    if column is not None and column.array:
        items = value if isinstance(value, list) else [value]
        return [canonical_text(column, item) for item in items if item]
    if isinstance(value, list):
        value = as_text([item for item in value if item], delimiter or LIST_JOINER)
    if column is not None and value:
        if column.kind != "text" or column.width is not None:
            value = canonical_text(column, value)
        elif column.length is not None:
            value = cut(value, column.length)
    return split_text(value, delimiter)


def binary_param(value: Value) -> bytes | None:
    """A record value as a binary column's parameter (None when empty)."""
    data = value.data if isinstance(value, Binary) else as_text(value, LIST_JOINER).encode()
    return data or None


def joined(value: Value, delimiter: str | None) -> str:
    """A record value as one column's text (a list joined, its empty items left out)."""
    if isinstance(value, list):
        value = [item for item in value if item]
    return as_text(value, delimiter or LIST_JOINER)
