"""Values as PostgreSQL stores them: quoted names, each column's kind, what a typed value
reads back as (canonical text), and the parameter a record value is written with.

Read values become canonical text: integers as digits, numeric without exponent, booleans
"true"/"false", dates and times in ISO 8601 (timestamptz in UTC with "Z"), uuids in lower
case, json compact with sorted keys, bytea as Binary, arrays as lists. `canonical` turns
the text a source gives into the same text, so a re-run finds no phantom updates.
"""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass
from datetime import UTC, date, datetime, time
from decimal import Decimal

from core.errors import BadInput
from schemas.values import Binary, Value, as_text, split_text

from ..cells import LIST_JOINER
from ..sql.values import (
    compact_json,
    parse_bool,
    parse_decimal,
    parse_moment,
    quoted,
)

Param = str | bytes | list[str] | None

_KINDS = {
    "int2": "int",
    "int4": "int",
    "int8": "int",
    "oid": "int",
    "numeric": "numeric",
    "float4": "float",
    "float8": "float",
    "bool": "bool",
    "date": "date",
    "timestamp": "timestamp",
    "timestamptz": "timestamptz",
    "time": "time",
    "uuid": "uuid",
    "json": "json",
    "jsonb": "json",
    "bytea": "bytea",
}


def quote(name: str) -> str:
    """An SQL identifier for any name: double quotes, embedded quotes doubled."""
    return quoted(name, '"', "postgresql")


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

    @property
    def kind(self) -> str:
        return _KINDS.get(self.type_name, "text")

    @property
    def staging(self) -> str:
        """The type of this column in a batch's staging table (text, text[] or bytea)."""
        if self.array:
            return "text[]"
        return "bytea" if self.kind == "bytea" else "text"


def text_of(raw: object) -> str:
    """A value asyncpg decoded, as canonical text."""
    if isinstance(raw, str):
        return raw
    if isinstance(raw, bool):
        return "true" if raw else "false"
    if isinstance(raw, float):
        return repr(raw)
    if isinstance(raw, Decimal):
        return format(raw, "f")
    if isinstance(raw, datetime):
        if raw.tzinfo is not None:
            return raw.astimezone(UTC).replace(tzinfo=None).isoformat() + "Z"
        return raw.isoformat()
    if isinstance(raw, date | time):
        return raw.isoformat()
    return str(raw)  # int, uuid, interval, inet, …: their own text


def value_of(raw: object, delimiter: str | None) -> Value | None:
    """A read value as a record value (None for NULL)."""
    if raw is None:
        return None
    if isinstance(raw, bytes):
        return Binary(raw)
    if isinstance(raw, list):
        return [text_of(item) for item in raw if item is not None]
    return split_text(text_of(raw), delimiter) if isinstance(raw, str) else text_of(raw)


def _parse(kind: str, text: str, scale: int | None) -> object:
    """A text value as the column would hold it; ValueError when it would refuse it."""
    t = text.strip()
    if kind == "int":
        return int(t)
    if kind == "numeric":
        return parse_decimal(t, scale)
    if kind == "float":
        return float(t)
    if kind == "bool":
        return parse_bool(t)
    if kind == "date":
        return date.fromisoformat(t)
    if kind in ("timestamp", "timestamptz"):
        moment = parse_moment(t)
        if kind == "timestamp":
            return moment.replace(tzinfo=None)
        return moment if moment.tzinfo else moment.replace(tzinfo=UTC)  # the session's zone
    if kind == "time":
        return time.fromisoformat(t)
    if kind == "uuid":
        return uuid.UUID(t)
    if kind == "json":
        return compact_json(text)
    return text


_TEXT_TYPES = ("text", "varchar", "bpchar", "citext", "name")
_ORDERED_KINDS = ("int", "numeric", "float", "date", "timestamp", "timestamptz", "time")


def changed_since(column: Column, since: str | None) -> str | None:
    """The condition of a read since a watermark on `column` ($1 the watermark as text):
    text compared by code point (COLLATE "C"), other types as themselves; a row without
    a value is always read. None reads every row: no watermark, or one the column cannot
    hold (another field's). BadInput for a column that cannot order changes."""
    text = column.type_name in _TEXT_TYPES and not column.array
    if not text and (column.array or column.kind not in _ORDERED_KINDS):
        raise BadInput(
            f"postgresql: the change field {column.name!r} is a {column.declared} column; "
            "it must be a timestamp, a date, a number or text"
        )
    if since is None:
        return None
    name = quote(column.name)
    if text:
        return f'{name} COLLATE "C" >= $1::text OR {name} IS NULL'
    try:
        _parse(column.kind, since, column.scale)
    except ValueError:
        return None
    return f"{name} >= CAST($1::text AS {column.declared}) OR {name} IS NULL"


def canonical_text(column: Column, text: str) -> str:
    """The text a value reads back as; unchanged when the column would refuse it (the
    write then fails for that record, naming the value)."""
    try:
        return text_of(_parse(column.kind, text, column.scale))
    except (ValueError, json.JSONDecodeError):
        return text


def canonical_value(column: Column | None, value: Value, delimiter: str | None) -> Value:
    """A record value as this column would give it back."""
    if isinstance(value, Binary):
        return value if column is None or column.kind == "bytea" else as_text(value, ";")
    if column is not None and column.kind == "bytea":
        return Binary(as_text(value, delimiter or LIST_JOINER).encode())
    if column is not None and column.array:
        items = value if isinstance(value, list) else [value]
        return [canonical_text(column, item) for item in items if item]
    if isinstance(value, list):
        value = as_text([item for item in value if item], delimiter or LIST_JOINER)
    if column is not None and column.kind != "text" and value:
        value = canonical_text(column, value)
    return split_text(value, delimiter)


def param_of(column: Column | None, value: Value, delimiter: str | None) -> Param:
    """A record value as the staging table's parameter (text, text[] or bytea)."""
    if column is not None and column.kind == "bytea":
        data = value.data if isinstance(value, Binary) else as_text(value, LIST_JOINER).encode()
        return data or None
    if column is not None and column.array:
        items = [value] if isinstance(value, str) else value if isinstance(value, list) else []
        return [item for item in items if item] or None
    if isinstance(value, list):
        value = [item for item in value if item]
    return as_text(value, delimiter or LIST_JOINER) or None
