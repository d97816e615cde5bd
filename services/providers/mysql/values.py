"""Values as MySQL and MariaDB store them: backtick-quoted names, each column's kind, what
a typed value reads back as (canonical text), and the parameter a record value is
written with.

Read values become the same canonical text as PostgreSQL's: integers as digits, decimals
without exponent at the column's scale, tinyint(1) as "true"/"false", dates and datetimes
in ISO 8601 (TIMESTAMP in UTC with "Z": the session speaks UTC), times as HH:MM:SS, json
compact with sorted keys, binary columns as Binary. `canonical` turns the text a source
gives into the same text, so a re-run finds no phantom updates.
"""

from __future__ import annotations

import ipaddress
import json
import re
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal
from typing import Any

from schemas.values import Binary, Value, split_text

from ..sql import values as sql

Param = str | bytes | int | Decimal | float | date | datetime | time | None

_KINDS = {
    "tinyint": "int",
    "smallint": "int",
    "mediumint": "int",
    "int": "int",
    "integer": "int",
    "bigint": "int",
    "year": "int",
    "bit": "bit",
    "decimal": "decimal",
    "numeric": "decimal",
    "float": "float4",
    "double": "float",
    "real": "float",
    "date": "date",
    "datetime": "datetime",
    "timestamp": "timestamp",
    "time": "time",
    "json": "json",
    "uuid": "uuid",
    "inet4": "inet4",
    "inet6": "inet6",
    "binary": "binary",
    "varbinary": "binary",
    "tinyblob": "binary",
    "blob": "binary",
    "mediumblob": "binary",
    "longblob": "binary",
}
_STR_TYPES = ("char", "varchar", "tinytext", "text", "mediumtext", "longtext", "enum", "set")
# Client field types (asyncmy.constants.FIELD_TYPE) of a query's columns.
_FIELD_KINDS = {
    0: "decimal",
    246: "decimal",
    1: "int",
    2: "int",
    3: "int",
    8: "int",
    9: "int",
    13: "int",
    16: "bit",
    4: "float6",
    5: "float",
    10: "date",
    12: "datetime",
    7: "timestamp",
    11: "time",
    245: "json",
}


def quote(name: str) -> str:
    """An SQL identifier for any name: backticks, embedded backticks doubled."""
    return sql.quoted(name, "`", "mysql")


def with_params(statement: str) -> str:
    """A statement as the driver takes it with parameters: it formats the text with them,
    `%s` a parameter, so a `%` in a name (`rate%`, quoted by `quote`) is doubled — or the
    statement fails with a TypeError, not the server's refusal."""
    if "%" not in statement:
        return statement
    parts = statement.split("`")  # names are the odd parts (a doubled backtick: two names)
    parts[1::2] = [part.replace("%", "%%") for part in parts[1::2]]
    return "`".join(parts)


@dataclass(frozen=True, slots=True)
class Column:
    """One column as information_schema describes it."""

    name: str
    data_type: str
    """DATA_TYPE: "int", "varchar", "decimal", …"""
    declared: str
    """COLUMN_TYPE with its character set: what a batch's staging column is made as."""
    scale: int | None = None
    json: bool = False
    """A MariaDB JSON column (longtext checked by json_valid) or MySQL's json."""
    not_null: bool = False
    folds: bool = False
    """Its collation ignores case (…_ci): "Ann" = "ann"."""
    described: str | None = None
    """The kind of a job's SELECT's column, as the statement describes it (`described`)."""

    @property
    def empty_text(self) -> bool:
        """A text column NOT NULL: no value is written to it as empty text."""
        return self.not_null and self.reads_str

    @property
    def array(self) -> bool:
        return False  # MySQL has no array columns

    @property
    def kind(self) -> str:
        if self.described is not None:
            return self.described
        if self.json:
            return "json"
        if self.declared.startswith("tinyint(1)"):
            return "bool"
        return _KINDS.get(self.data_type, "text")

    @property
    def width(self) -> int | None:
        """CHAR(n)'s n: its values read back without their trailing spaces."""
        if self.data_type != "char":
            return None
        found = re.match(r"char\((\d+)\)", self.declared)
        return int(found[1]) if found else None

    @property
    def padded(self) -> int | None:
        """BINARY(n)'s n: its values stored padded with zero bytes to n."""
        if self.data_type != "binary":
            return None
        found = re.match(r"binary\((\d+)\)", self.declared)
        return int(found[1]) if found else 1

    @property
    def length(self) -> int | None:
        """VARCHAR(n)'s n: a longer value is refused, but one longer by spaces alone, which
        go."""
        if self.data_type != "varchar":
            return None
        found = re.match(r"varchar\((\d+)\)", self.declared)
        return int(found[1]) if found else None

    @property
    def fraction(self) -> int:
        """The digits of a second a DATETIME, TIMESTAMP or TIME holds (0 to 6): the server
        drops (MariaDB) or rounds (MySQL) finer ones. 6 for any other column."""
        if self.data_type not in ("datetime", "timestamp", "time"):
            return 6
        found = re.match(r"\w+\((\d)\)", self.declared)
        return int(found[1]) if found else 0

    @property
    def keeps_text(self) -> bool:
        """Not an ENUM or SET: they keep their members as declared (`canonical_value`)."""
        return self.data_type not in ("enum", "set")

    @property
    def reads_str(self) -> bool:
        """A text column of a character set: the driver reads it as text, as stored."""
        return self.data_type in _STR_TYPES and not self.json


def field_kind(type_code: int, length: int) -> str:
    """The kind of a query's column, from the client's field description."""
    if type_code == 1 and length == 1:
        return "bool"
    return _FIELD_KINDS.get(type_code, "text")


def described(description: Sequence[Any]) -> Column:
    """A column of a job's SELECT as the statement describes it (the client's field: name,
    type, …, length, …, scale): its kind (`field_kind`, as it is read) and a decimal's
    scale."""
    kind = field_kind(int(description[1]), int(description[3] or 0))
    scale = int(description[5]) if kind == "decimal" and description[5] is not None else None
    return Column(str(description[0]), "", "", scale, described=kind)


def _clock(span: timedelta) -> str:
    seconds = int(span.total_seconds())
    sign, seconds = ("-", -seconds) if seconds < 0 else ("", seconds)
    text = f"{sign}{seconds // 3600:02d}:{seconds % 3600 // 60:02d}:{seconds % 60:02d}"
    return text + (f".{span.microseconds:06d}" if span.microseconds else "")


def text_of(raw: object, kind: str) -> str:
    """A value the driver decoded (or `_parse` made), as canonical text."""
    if kind == "bool" and isinstance(raw, int | bool) and raw in (0, 1):
        return "true" if raw else "false"  # a TINYINT(1)'s other numbers are themselves
    if kind == "bit" and isinstance(raw, bytes):
        return str(int.from_bytes(raw, "big"))
    if kind == "json" and isinstance(raw, str | bytes):
        try:
            return sql.compact_json(raw.decode() if isinstance(raw, bytes) else raw)
        except (ValueError, UnicodeDecodeError):
            return str(raw)
    if kind == "float4" and isinstance(raw, float):
        return sql.single(raw)  # a table's FLOAT, read as a DOUBLE (read.py): exactly
    if kind == "float6" and isinstance(raw, float):
        return sql.single(raw, 6)  # a job's SELECT's FLOAT: the six digits sent
    if isinstance(raw, datetime):
        return sql.moment_text(raw, kind == "timestamp")  # the session's zone is UTC
    if isinstance(raw, timedelta):
        return _clock(raw)
    return sql.plain_text(raw)


def value_of(raw: object, kind: str, delimiter: str | None) -> Value | None:
    """A read value as a record value (None for NULL)."""
    if raw is None:
        return None
    if isinstance(raw, bytes | bytearray) and kind not in ("bit", "json"):
        return Binary(bytes(raw))
    if isinstance(raw, str) and kind in ("text", "binary"):
        return split_text(raw, delimiter)
    return text_of(raw, kind)


def _parse(kind: str, text: str, scale: int | None, fraction: int = 6) -> Param:
    """A text value as the column would hold it, a date-time or time cut to the
    `fraction` of a second the column holds (sent so, MySQL 8 rounds it no more than
    MariaDB does); ValueError when it would refuse it."""
    t = text.strip()
    if kind == "bit":
        try:
            return int(t)
        except ValueError:
            return int(sql.parse_bool(t))  # BIT(1) as a boolean: "true" is 1
    if kind == "bool":
        return int(sql.parse_bool(t))
    if kind in ("datetime", "timestamp"):
        moment = sql.parse_moment(t)
        if moment.tzinfo is not None:  # the session's zone is UTC
            moment = moment.astimezone(UTC).replace(tzinfo=None)
        return moment.replace(microsecond=_cut(moment.microsecond, fraction))
    if kind == "int":
        return sql.parse_int(t)  # 4.0 and 1e2 are taken as 4 and 100
    if kind == "uuid":  # MariaDB's UUID reads back in lower case, hyphens as a UUID has them
        return str(uuid.UUID(t))
    if kind == "inet4":
        return _inet4(t)
    if kind == "inet6":
        return _inet6(t)
    if kind == "time" and (span := _SPAN.fullmatch(t)) is not None and not _of_a_day(span):
        return _span(span, fraction)
    value = sql.parse_plain("float" if kind == "float4" else kind, t, scale)
    if isinstance(value, float) and value == 0:
        return 0.0  # the server keeps no negative zero: -0 reads back as 0
    if isinstance(value, time):
        return value.replace(microsecond=_cut(value.microsecond, fraction))
    return value


_SPAN = re.compile(r"(-)?(?:(\d{1,2}) )?(\d{1,3}):(\d\d)(?::(\d\d)(?:\.(\d{1,6}))?)?")
"""A TIME beyond a time of day, as MariaDB takes it: negative, of 24 hours or more, or with
days before it ("-1:00:00", "26:00:00", "1 02:00:00")."""
_LONGEST = timedelta(hours=838, minutes=59, seconds=59)


def _of_a_day(span: re.Match[str]) -> bool:
    """A time of day: no sign, no days, under 24 hours (read by `sql.parse_time`)."""
    sign, days, hours, *_ = span.groups()
    return sign is None and days is None and int(hours) < 24


def _span(span: re.Match[str], fraction: int) -> str:
    """A TIME beyond a time of day as the column reads it back (`_clock`: "-01:00:00",
    "26:00:00"), its fraction cut to the column's; ValueError past the server's range or
    with minutes or seconds past 59 (it refuses them)."""
    sign, days, hours, minutes, seconds, digits = span.groups()
    if int(minutes) > 59 or int(seconds or 0) > 59:
        raise ValueError(span[0])
    micro = _cut(int((digits or "").ljust(6, "0")), fraction)
    length = timedelta(
        days=int(days or 0),
        hours=int(hours),
        minutes=int(minutes),
        seconds=int(seconds or 0),
        microseconds=micro,
    )
    if length > _LONGEST:
        raise ValueError(span[0])
    return _clock(-length if sign else length)


_INET4 = re.compile(r"(\d{1,3})\.(\d{1,3})\.(\d{1,3})\.(\d{1,3})")


def _inet4(text: str) -> str:
    """An INET4 address as MariaDB writes it: "001.2.3.4" is "1.2.3.4"."""
    found = _INET4.fullmatch(text)
    if found is None or any(int(part) > 255 for part in found.groups()):
        raise ValueError(text)
    return ".".join(str(int(part)) for part in found.groups())


def _inet6(text: str) -> str:
    """An INET6 address as MariaDB writes it (Inet6::to_string): lower-case words without
    leading zeros, the first longest run of zero words (even one) as "::", and an address
    that maps or holds an IPv4 one (::ffff:1.2.3.4, ::1.2.3.4) with it in dotted form."""
    if "%" in text:  # a zone, which Python reads and MariaDB refuses
        raise ValueError(text)
    packed = ipaddress.IPv6Address(text).packed
    words = [int.from_bytes(packed[at : at + 2], "big") for at in range(0, 16, 2)]
    gap, length, start = -1, 0, -1
    for at, word in enumerate([*words, 1]):
        if word == 0 and start < 0:
            start = at
        elif word != 0 and start >= 0:
            if at - start > length:
                gap, length = start, at - start
            start = -1
    if gap == 0 and (length == 6 or (length == 5 and words[5] == 0xFFFF)):
        return ("::ffff:" if length == 5 else "::") + str(ipaddress.IPv4Address(packed[12:]))
    if gap < 0:
        return ":".join(f"{word:x}" for word in words)
    head = ":".join(f"{word:x}" for word in words[:gap])
    tail = ":".join(f"{word:x}" for word in words[gap + length :])
    return f"{head}::{tail}"


def _cut(microseconds: int, fraction: int) -> int:
    """Microseconds with only the first `fraction` of their six digits kept."""
    step = int(10 ** (6 - fraction))
    return microseconds - microseconds % step


_ORDERED_KINDS = ("int", "decimal", "float", "float4", "date", "datetime", "timestamp", "time")


def orders_changes(column: Column) -> bool:
    """Whether the server orders a change column's values: a date-time or number column.
    A text column's are compared in the runner by their kind, as a CSV's are (changes.py):
    text compared as text would take "9" for later than "10" and "N/A" for later than any
    timestamp. BadInput for a column that cannot order changes."""
    text = column.kind == "text"
    sql.change_column("mysql", column, text or column.kind in _ORDERED_KINDS)
    return not text


def changed_since(column: Column, since: str | None) -> tuple[str, Param] | None:
    """The condition of a read since a watermark on a column the server orders
    (`orders_changes`), and its parameter, compared as the column's type; a row without a
    value is always read. None reads every row: no watermark, or one the column cannot
    hold (another field's)."""
    if since is None:
        return None
    try:
        value = _parse(column.kind, since, column.scale)
    except ValueError:
        return None
    return f"{quote(column.name)} >= %s OR {quote(column.name)} IS NULL", value


def canonical_text(column: sql.TypedColumn, text: str) -> str:
    """The text a value reads back as; unchanged when the column would refuse it (the
    write then fails for that record, naming the value)."""
    if column.width is not None:  # CHAR(n): stored padded, read without trailing spaces
        kept = text.rstrip(" ")
        return kept if len(kept) <= column.width else text
    try:
        parsed = _parse(column.kind, text, column.scale, column.fraction)
    except (ValueError, json.JSONDecodeError):
        return text
    if column.declared.startswith("year") and isinstance(parsed, int):
        parsed = _full_year(parsed)
    return text_of(parsed, column.kind)


def _full_year(year: int) -> int:
    """A YEAR column's year as the server stores a number: 1 to 69 as 2001 to 2069, 70 to
    99 as 1970 to 1999 (0 stays 0, "0000")."""
    if 1 <= year <= 69:
        return 2000 + year
    if 70 <= year <= 99:
        return 1900 + year
    return year


_MEMBER = re.compile(r"'((?:[^']|'')*)'")


def members(column: Column) -> list[str]:
    """An ENUM's or a SET's members, as declared (COLUMN_TYPE)."""
    kept = column.declared[len(column.data_type) + 1 :]
    return [found[1].replace("''", "'") for found in _MEMBER.finditer(kept.split(")")[0])]


def _member(column: Column, text: str, declared: list[str]) -> str | None:
    """The member a value is, as the column compares it: itself, or the one member equal
    to it without case in a collation without case (trailing spaces never count)."""
    text = text.rstrip(" ")
    if text in declared:
        return text
    if column.folds:
        found = [member for member in declared if member.lower() == text.lower()]
        if len(found) == 1:
            return found[0]
    return None


def _chosen(column: Column, text: str) -> str:
    """An ENUM's or a SET's value as the column keeps it: an ENUM's member as declared
    ("active" is "Active" in a collation without case), a SET's members in their declared
    order, each once ("y,x" is "x,y"); unchanged when a member is none of the column's (the
    server refuses it)."""
    declared = members(column)
    if column.data_type == "enum":
        return _member(column, text, declared) or text
    chosen = {_member(column, item, declared) for item in text.split(",")} if text else set()
    if None in chosen:
        return text
    return ",".join(member for member in declared if member in chosen)


def canonical_value(column: Column | None, value: Value, delimiter: str | None) -> Value:
    """A record value as this column would give it back."""
    if column is not None and column.data_type in ("enum", "set"):
        if isinstance(value, list) and delimiter == ",":  # a SET's members, as a field's values
            value = ",".join(item for item in value if item)
        if isinstance(value, str):
            value = _chosen(column, value)
    made = sql.canonical_value(column, value, delimiter, canonical_text)
    if column is not None and column.padded and isinstance(made, Binary) and made.data:
        return Binary(made.data.ljust(column.padded, b"\0"))  # longer: refused, as given
    return made


def param_of(column: Column, value: Value, delimiter: str | None) -> Param:
    """A record value as the parameter its column takes: typed where the text parses, else
    the text itself, for the server to refuse (the change then fails alone)."""
    kind = column.kind
    if kind == "text" and type(value) is str:
        return value or None  # the common case, first
    if kind == "binary":
        return sql.binary_param(value)
    text = sql.joined(value, delimiter)
    if not text:
        return None
    if kind == "text":
        return text
    try:
        return _parse(kind, text, column.scale, column.fraction)
    except (ValueError, json.JSONDecodeError):
        return text
