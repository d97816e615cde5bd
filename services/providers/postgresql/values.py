"""Values as PostgreSQL stores them: quoted names, each column's kind, what a typed value
reads back as (canonical text), and the parameter a record value is written with.

Read values become canonical text (sql/values.py): integers as digits, numeric without
exponent, booleans "true"/"false", dates and times in ISO 8601 (timestamptz in UTC with
"Z"), uuids in lower case, json compact with sorted keys, bytea as Binary, arrays as lists.
`canonical` turns the text a source gives into the same text, so a re-run finds no
phantom updates.
"""

from __future__ import annotations

import contextlib
import ipaddress
import json
import re
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta

from schemas.values import Binary, Value, split_text

from ..sql import values as sql

Param = str | bytes | list[str] | None

_KINDS = {
    "int2": "int",
    "int4": "int",
    "int8": "int",
    "oid": "int",
    "numeric": "decimal",
    "float4": "float",
    "float8": "float",
    "bool": "bool",
    "date": "date",
    "timestamp": "timestamp",
    "timestamptz": "timestamptz",
    "time": "time",
    "uuid": "uuid",
    "inet": "inet",
    "cidr": "cidr",
    "macaddr": "macaddr",
    "macaddr8": "macaddr8",
    "json": "json",
    "jsonb": "json",
    "bytea": "binary",
}
_TEXT_TYPES = ("text", "varchar", "bpchar", "citext", "name")
_STR_TYPES = (*_TEXT_TYPES, "json", "jsonb")
"""Types asyncpg gives as str (json through the connection's codec)."""
_MOMENTS = ("timestamp", "timestamptz", "time")
_ORDERED_KINDS = ("int", "decimal", "float", "date", "timestamp", "timestamptz", "time")


def quote(name: str) -> str:
    """An SQL identifier for any name: double quotes, embedded quotes doubled."""
    return sql.quoted(name, '"', "postgresql")


@dataclass(frozen=True, slots=True)
class Column:
    """One column as the catalogue describes it."""

    name: str
    type_name: str
    """The type's name in pg_type (the element's, for an array)."""
    declared: str
    """format_type(): what a text value is cast to ("integer[]", "numeric(10,2)")."""
    array: bool = False
    scale: int | None = None
    """numeric(p,s): the digits after the point every value gets."""
    deterministic: bool = True
    """Its collation's: false for a nondeterministic one (ICU's without case), whose
    equal texts need not be the same text."""
    base: str | None = None
    """A domain's type, without its bound ("character varying" of a domain over
    varchar(4)); None for a column of any other type."""
    not_null: bool = False

    @property
    def empty_text(self) -> bool:
        """A text column NOT NULL: no value is written to it as empty text."""
        return self.not_null and not self.array and self.type_name in _TEXT_TYPES

    @property
    def kind(self) -> str:
        return _KINDS.get(self.type_name, "text")

    @property
    def width(self) -> int | None:
        """char(n)'s n: its values read back padded with spaces to n (each item of a
        char(n)[] too)."""
        if self.type_name != "bpchar":
            return None
        found = re.fullmatch(r"character\((\d+)\)(?:\[\])?", self.declared)
        return int(found[1]) if found else None

    @property
    def length(self) -> int | None:
        """varchar(n)'s n: a longer value is refused, but one longer by spaces alone, which
        go (each item of a varchar(n)[] too)."""
        if self.type_name != "varchar":
            return None
        found = re.fullmatch(r"character varying\((\d+)\)(?:\[\])?", self.declared)
        return int(found[1]) if found else None

    @property
    def fraction(self) -> int:
        """The digits of a second a timestamp(p), timestamptz(p) or time(p) holds: the
        server rounds finer ones. 6 for any other column."""
        found = re.match(r"(?:timestamp|time)\((\d)\)", self.declared)
        return int(found[1]) if found and self.kind in _MOMENTS else 6

    @property
    def cast(self) -> str:
        """What a staged value is cast to before it is compared with the column's or goes
        into it: the declared type, but a text type of a bounded length without its bound
        (varchar, bpchar) — cast to varchar(n) or char(n), a longer value is cut to n
        without a word (the key of another object, a value lost), where the column itself
        refuses it (a domain: its type's, the column checks the domain)."""
        if self.type_name in ("varchar", "bpchar"):
            return self.type_name + ("[]" if self.array else "")
        if self.base is not None:  # a domain: its constraints are the column's own too
            return self.base
        return self.declared

    @property
    def exact(self) -> bool:
        """Whether two values it holds are equal only when they are the same text, as a
        run compares keys with case: not citext, nor a column of a nondeterministic
        collation ("E2" = "e2")."""
        return self.deterministic and self.type_name != "citext"

    @property
    def folds(self) -> bool:
        """Its equal values need not be the same text: not `exact`."""
        return not self.exact

    @property
    def keeps_text(self) -> bool:
        return True

    @property
    def plain_text(self) -> bool:
        """A text column (text, varchar) of single values: a value goes in as it is."""
        return self.type_name in ("text", "varchar") and not self.array

    @property
    def staging(self) -> str:
        """The type of this column in a batch's staging table (text, text[] or bytea)."""
        if self.array:
            return "text[]"
        return "bytea" if self.kind == "binary" else "text"


def described(name: str, type_name: str, kind: str) -> Column:
    """A column of a job's SELECT as the statement describes it (the driver's type name
    and kind): its type, not its modifier — a numeric's scale, a varchar's bound are not
    known."""
    element = element_of(type_name)
    return Column(name, element, type_name, kind == "array")


_OBJECTS = frozenset(
    {
        *("interval", "timetz", "bit", "varbit", "pg_lsn", "txid_snapshot", "pg_snapshot"),
        "char",  # the one-byte "char": decoded as bytes, binary data where the server says a
        *("point", "line", "lseg", "box", "path", "polygon", "circle"),
    }
)
"""Types asyncpg decodes into Python objects whose text is not the server's: an interval
into a timedelta ("1 mon" as "30 days, 0:00:00"), bits into "<BitString 101>", a point
into "asyncpg.pgproto.types.Point((1.0, 2.0))" — read as the server writes them."""


def read_as_text(type_name: str, kind: str) -> bool:
    """Whether a column the statement gives (asyncpg's type name and kind: an array's name
    ends with "[]") is read as the server's text (`::text`) rather than decoded: `_OBJECTS`,
    ranges and multiranges ("<Range [1, 5)>"), and arrays of them."""
    element = type_name.removesuffix("[]")
    return (
        kind in ("range", "multirange")
        or element in _OBJECTS
        or (kind == "array" and element.endswith(("range", "multirange")))
    )


def server_texts(sql: str, names: Sequence[str], kinds: Sequence[tuple[str, str]]) -> str | None:
    """The statement with its columns of types `read_as_text` as the server's text (the
    others as they are, in the same order), or None where there are none. The statement
    ends on a line of its own: a comment at its end stays in it."""
    texts = [read_as_text(name, kind) for name, kind in kinds]
    if not any(texts):
        return None
    columns = ", ".join(
        f"q.{quote(name)}::text{'[]' if kind == 'array' else ''} AS {quote(name)}"
        if text
        else f"q.{quote(name)}"
        for name, (_, kind), text in zip(names, kinds, texts, strict=True)
    )
    return f"SELECT {columns} FROM ({sql}\n) AS q"


def time_text(text: str) -> str:
    """A time as PostgreSQL writes it, as canonical text (as Python writes the time:
    "09:30:00.500000"); 24:00:00, which PostgreSQL holds and Python's time not, as it is
    — decoded by the driver, it failed the read of the whole table."""
    try:
        return time.fromisoformat(text).isoformat()
    except ValueError:
        return text


def reads_str(type_name: str, array: bool) -> bool:
    """A column asyncpg reads as text, as stored (a record is then made of its cells)."""
    return type_name in _STR_TYPES and not array


def text_of(raw: object) -> str:
    """A value asyncpg decoded, as canonical text."""
    if isinstance(raw, str):
        return raw
    if isinstance(raw, bool):
        return "true" if raw else "false"
    if isinstance(raw, datetime):
        return sql.moment_text(raw, raw.tzinfo is not None)
    return sql.plain_text(raw)  # numbers, dates, times; int, uuid, interval, inet: their own


def value_of(raw: object, delimiter: str | None) -> Value | None:
    """A read value as a record value (None for NULL)."""
    if raw is None:
        return None
    if isinstance(raw, bytes):
        return Binary(raw)
    if isinstance(raw, list):
        return [text_of(item) for item in raw if item is not None]
    return split_text(raw, delimiter) if isinstance(raw, str) else text_of(raw)


def _in_utc(raw: object) -> object:
    return raw.replace(tzinfo=UTC) if isinstance(raw, datetime) and raw.tzinfo is None else raw


def zoned_value_of(raw: object, delimiter: str | None) -> Value | None:
    """`value_of` of a timestamptz column: the driver gives its infinities as the first or
    last moment Python holds without their zone, read so in UTC as every other value."""
    if isinstance(raw, list):
        return value_of([_in_utc(item) for item in raw], delimiter)
    return value_of(_in_utc(raw), delimiter)


def element_of(type_name: str) -> str:
    """The type of a column's values, from the driver's name of its type: an array's is
    its element's name with "[]" after ("timestamptz[]")."""
    return type_name.removesuffix("[]")


def reader_of(type_name: str) -> Callable[[object, str | None], Value | None]:
    """How a column of the type (the driver's name: `element_of`) is read."""
    return zoned_value_of if element_of(type_name) == "timestamptz" else value_of


def _parse(kind: str, text: str, scale: int | None, fraction: int = 6) -> object:
    """A text value as the column would hold it, a date-time or time rounded to the
    `fraction` of a second the column holds; ValueError when it would refuse it."""
    t = text.strip()
    if kind == "bool":
        return _boolean(t)
    if kind in ("date", "timestamp", "timestamptz") and t.lower() in _ENDLESS:
        return _endless(kind, _ENDLESS[t.lower()])
    if kind in ("timestamp", "timestamptz"):
        moment = sql.parse_moment(t)
        if kind == "timestamp":
            moment = moment.replace(tzinfo=None)
        elif moment.tzinfo is None:
            moment = moment.replace(tzinfo=UTC)  # the session's zone
        return _rounded(moment, fraction)
    if kind == "uuid":
        return uuid.UUID(t)
    if kind == "inet":  # as the driver reads it: an address, or one with its network's bits
        found = ipaddress.ip_interface(t)
        return found.ip if found.network.prefixlen == found.max_prefixlen else found
    if kind == "cidr":
        return ipaddress.ip_network(t)
    if kind in ("macaddr", "macaddr8"):
        return _mac(t, 8 if kind == "macaddr8" else 6)
    value = sql.parse_plain(kind, t, scale)
    if isinstance(value, time) and fraction < 6:
        since_midnight = datetime.combine(_EPOCH, value) - datetime.combine(_EPOCH, time())
        step = int(10 ** (6 - fraction))
        micro = (since_midnight // _MICROSECOND + step // 2) // step * step
        if micro >= 86_400_000_000:  # 24:00:00, which PostgreSQL holds and Python not
            raise ValueError(text)
        return (datetime.combine(_EPOCH, time()) + micro * _MICROSECOND).time()
    return value


_ENDLESS = {"infinity": True, "-infinity": False}


def _endless(kind: str, later: bool) -> date | datetime:
    """infinity (`later`) or -infinity in a date, timestamp or timestamptz column, as the
    driver reads it back: the last or first day or moment Python holds (in UTC)."""
    if kind == "date":
        return date.max if later else date.min
    moment = datetime.max if later else datetime.min
    return moment.replace(tzinfo=UTC) if kind == "timestamptz" else moment


_MAC = re.compile(r"[0-9a-fA-F]{2}(?:([:.-]?)[0-9a-fA-F]{2})*")


def _mac(text: str, size: int) -> str:
    """A MAC address as PostgreSQL writes it: its bytes in lower-case hex, apart by ":" —
    "08-00-2B-01-02-03", "0800.2b01.0203" and "08002b010203" are "08:00:2b:01:02:03"; a
    macaddr8 given six bytes gets FF:FE in their middle, as the server makes it.
    ValueError for another text (the server refuses it, or reads it otherwise)."""
    if _MAC.fullmatch(text) is None or len({c for c in text if c in ":.-"}) > 1:
        raise ValueError(text)
    digits = re.sub(r"[:.-]", "", text).lower()
    if size == 8 and len(digits) == 12:
        digits = digits[:6] + "fffe" + digits[6:]
    if len(digits) != 2 * size:
        raise ValueError(text)
    return ":".join(digits[at : at + 2] for at in range(0, len(digits), 2))


def _boolean(text: str) -> bool:
    """A boolean as PostgreSQL reads one (boolin): a word of `sql.parse_bool`'s, or any
    start of "true", "false", "yes" or "no", "on" or "off" of two letters or more; any
    case. ValueError for another ("o" is either)."""
    word = text.lower()
    with contextlib.suppress(ValueError):
        return sql.parse_bool(word)
    for whole, meaning in (("true", True), ("false", False), ("yes", True), ("no", False)):
        if word and whole.startswith(word):
            return meaning
    if len(word) >= 2 and "off".startswith(word):
        return False
    raise ValueError(text)


_EPOCH = date(2000, 1, 1)
_MICROSECOND = timedelta(microseconds=1)


def _rounded(moment: datetime, fraction: int) -> datetime:
    """A date-time rounded to `fraction` digits of a second as PostgreSQL rounds it:
    half away from zero, in microseconds from 2000-01-01 (AdjustTimestampForTypmod)."""
    if fraction >= 6:
        return moment
    epoch = datetime.combine(_EPOCH, time(), tzinfo=moment.tzinfo)
    step, micro = int(10 ** (6 - fraction)), (moment - epoch) // _MICROSECOND
    half = step // 2
    micro = (micro + half) // step * step if micro >= 0 else -((-micro + half) // step * step)
    return epoch + micro * _MICROSECOND


def orders_changes(column: Column) -> bool:
    """Whether the server orders a change column's values: a date-time or number column.
    A text column's are compared in the runner by their kind, as a CSV's are (changes.py):
    text compared as text would take "9" for later than "10" and "N/A" for later than any
    timestamp. BadInput for a column that cannot order changes."""
    text = column.type_name in _TEXT_TYPES and not column.array
    sql.change_column("postgresql", column, text or column.kind in _ORDERED_KINDS)
    return not text


def changed_since(column: Column, since: str | None) -> str | None:
    """The condition of a read since a watermark on a column the server orders
    (`orders_changes`; $1 the watermark as text), compared as the column's type; a row
    without a value is always read. None reads every row: no watermark, or one the column
    cannot hold (another field's)."""
    if since is None:
        return None
    try:
        _parse(column.kind, since, column.scale)
    except ValueError:
        return None
    name = quote(column.name)
    return f"{name} >= CAST($1::text AS {column.declared}) OR {name} IS NULL"


def canonical_text(column: sql.TypedColumn, text: str) -> str:
    """The text a value reads back as; unchanged when the column would refuse it (the
    write then fails for that record, naming the value)."""
    if column.width is not None:  # char(n): its trailing spaces do not count, n are given
        kept = text.rstrip(" ")
        return kept.ljust(column.width) if len(kept) <= column.width else text
    if column.length is not None:  # varchar(n)[]'s items: spaces past n dropped
        return sql.cut(text, column.length)
    if isinstance(column, Column) and column.type_name == "float4":  # real
        try:
            return sql.single(float(text))
        except ValueError:
            return text
    try:
        return text_of(_parse(column.kind, text, column.scale, column.fraction))
    except (ValueError, json.JSONDecodeError):
        return text


def canonical_value(column: Column | None, value: Value, delimiter: str | None) -> Value:
    """A record value as this column would give it back."""
    return sql.canonical_value(column, value, delimiter, canonical_text)


def param_of(column: Column | None, value: Value, delimiter: str | None) -> Param:
    """A record value as the staging table's parameter (text, text[] or bytea)."""
    if type(value) is str and (column is None or (column.kind != "binary" and not column.array)):
        return value or None  # the common case, first
    if column is not None and column.kind == "binary":
        return sql.binary_param(value)
    if column is not None and column.array:
        items = [value] if isinstance(value, str) else value if isinstance(value, list) else []
        return [item for item in items if item] or None
    return sql.joined(value, delimiter) or None
