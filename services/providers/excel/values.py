"""Cell values as text and back.

Reading: every typed cell becomes text in one spelling (`text_of`), so a re-run finds
the same text and plans no phantom update — numbers without exponent ("42", "0.5"),
booleans "true"/"false", dates "2026-01-02", date-times "2026-01-02T03:04:05" (with
".250" milliseconds when there are some), times "03:04:05", durations "36:00:00".

One number format is read as Excel shows it: a zero-padded whole-number format such as
"00000" (`padded_width`), which Excel shows 123 in as "00123" — the way HR exports keep
the leading zeros of an employee number typed as a number; a key read "123" would match
no "00123" elsewhere. Only whole numbers are padded: a fraction reads as its number.

Text in a workbook's XML escapes what XML cannot hold as `_xHHHH_` (a carriage return is
`_x000D_`, and a literal "_x0041_" is written "_x005F_x0041_"), as Excel does: `unescape`
and `escape` turn one into the other.

Writing: a value is written as text (never as a formula, whatever it starts with), except
where the cell it replaces held a number, a boolean or a date and the text is exactly how
such a value reads back (`typed_like`): "43" over 42 stays a number, "043" becomes text.
"""

from __future__ import annotations

import re
from datetime import date, datetime, time, timedelta
from decimal import Decimal, InvalidOperation

MAX_TEXT = 32_767
"""The most characters an Excel cell holds."""

_ESCAPED = re.compile(r"_x([0-9A-Fa-f]{4})_")
_TO_ESCAPE = re.compile(r"_(?=x[0-9A-Fa-f]{4}_)|[\x00-\x08\x0b\x0c\x0d\x0e-\x1f\ufffe\uffff]")


def unescape(text: str) -> str:
    """Text as a workbook's XML holds it → the text itself."""
    if "_x" not in text:
        return text
    return _ESCAPED.sub(lambda m: chr(int(m[1], 16)), text)


def escape(text: str) -> str:
    """Text → as a workbook's XML holds it (what `unescape` reads back exactly)."""
    return _TO_ESCAPE.sub(lambda m: f"_x{ord(m[0]):04X}_", text)


def _fraction(micro: int) -> str:
    """Excel keeps times to the millisecond: ".250", or nothing for whole seconds."""
    return f".{micro // 1000:03d}" if micro else ""


def number_text(number: int | float) -> str:
    """A number as read: whole numbers without a point, others in their shortest form
    without exponent (Excel keeps every number as a double)."""
    if isinstance(number, int):
        return str(number)
    if number.is_integer():
        return str(int(number))
    shortest = repr(number)
    return format(Decimal(shortest), "f") if "e" in shortest else shortest


_PADDED = re.compile(r"0{2,}")


def padded_width(code: str | None) -> int:
    """The digits a zero-padded whole-number format shows ("00000" → 5); 0 for any other
    format (General, "0", "0.00", dates, currencies: those read as the number)."""
    return len(code) if code and _PADDED.fullmatch(code) else 0


def padded(value: object, width: int) -> str | None:
    """A whole number as a format of `width` zeros shows it (123, 5 → "00123", -7 →
    "-00007"); None for any other value, read as `text_of` reads it."""
    if not width or isinstance(value, bool) or not isinstance(value, int | float):
        return None
    if isinstance(value, float) and not value.is_integer():
        return None
    number = int(value)
    sign = "-" if number < 0 else ""
    return f"{sign}{abs(number):0{width}d}"


def text_of(value: object) -> str:
    """A cell's value, as openpyxl or the sheet reader gives it, as canonical text."""
    if isinstance(value, str):
        return str(value)  # an error's text (parts.CellError) as plain text
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return number_text(value)
    if isinstance(value, datetime):
        if value.time() == time():
            return value.date().isoformat()
        return value.strftime("%Y-%m-%dT%H:%M:%S") + _fraction(value.microsecond)
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, time):
        return value.strftime("%H:%M:%S") + _fraction(value.microsecond)
    if isinstance(value, timedelta):
        return _duration(value)
    return "" if value is None else str(value)


def _duration(value: timedelta) -> str:
    sign = "-" if value < timedelta(0) else ""
    micro = abs(value) // timedelta(microseconds=1)
    seconds, micro = divmod(micro, 1_000_000)
    minutes, second = divmod(seconds, 60)
    hours, minute = divmod(minutes, 60)
    return f"{sign}{hours}:{minute:02d}:{second:02d}{_fraction(micro)}"


def typed_like(text: str, old: object, width: int = 0) -> object:
    """What to write for `text` in a cell that held `old`: a value of old's type when the
    text is exactly how such a value reads back, else the text itself. `width`: the
    cell's zero-padded format (`padded_width`), through which a number reads back."""
    typed: object = None
    try:
        if isinstance(old, bool):
            typed = {"true": True, "false": False}.get(text)
        elif isinstance(old, int | float):
            number = Decimal(text)
            typed = int(number) if number == number.to_integral_value() else float(number)
        elif isinstance(old, datetime | date):
            typed = datetime.fromisoformat(text)
        elif isinstance(old, time):
            typed = time.fromisoformat(text)
    except (InvalidOperation, ValueError, OverflowError):
        return text
    if typed is None or (padded(typed, width) or text_of(typed)) != text:
        return text
    return typed
