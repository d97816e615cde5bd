"""Where a written value came from: the source values a field with a transformation (or
a reference) was computed from, kept with the run's plan for `idsync history why`. Pure.

A plain copy needs nothing kept: its source field held the value written. A field that
is a secret (a password transformation, a name like a password) keeps nothing, nor does
a source field named like a password.
"""

from __future__ import annotations

import json
from collections.abc import Mapping

import msgspec

from schemas.jobs import FieldMap, ObjectMapping
from schemas.plan import Change
from schemas.values import Binary, Record, Value

from .engine.keys import match_key
from .engine.source_fields import fields_read
from .engine.transforms import is_password
from .history import named_secret

MAX_SHOWN = 200
"""Characters of one source value kept (a long one is cut, and says so)."""


def fields_of(field: FieldMap) -> tuple[str, ...]:
    """The source fields one field map reads (none: a value made afresh, a password)."""
    alone = ObjectMapping(keys=[field.to], fields=[field])
    return tuple(fields_read(alone, ""))


def traced_fields(mapping: ObjectMapping) -> dict[str, tuple[str, ...]]:
    """Destination field → the source fields its value is computed from, for the fields
    whose value is not a plain copy (a transformation, a reference)."""
    found: dict[str, tuple[str, ...]] = {}
    for field in mapping.fields:
        if field.transform is None and field.resolve is None:
            continue
        steps = field.transform if isinstance(field.transform, list) else [field.transform]
        if named_secret(field.to) or any(is_password(step) for step in steps):
            continue
        alone = msgspec.structs.replace(mapping, fields=[field], container_from=None, leavers=None)
        reads = tuple(name for name in fields_read(alone, "") if not named_secret(name))
        if reads:
            found[field.to] = reads
    return found


class Origins:
    """The source values of one object type's traced fields, by the record's match key,
    kept as the source is mapped."""

    def __init__(self, mapping: ObjectMapping, traced: dict[str, tuple[str, ...]]) -> None:
        self.traced = traced
        self.reads = tuple(dict.fromkeys(name for names in traced.values() for name in names))
        self.keys = tuple(mapping.keys)
        self.case_insensitive = mapping.case_insensitive
        self.by_key: dict[str, tuple[Value | None, ...]] = {}
        """The source values of `reads`, in order, by the mapped record's match key."""
        self.single = self.keys[0] if len(self.keys) == 1 and not self.case_insensitive else None
        """The one key field compared with case: ASCII text is its own key (the planner's
        quick way, planner.py)."""

    def keep(self, mapped: Record, source: Mapping[str, Value]) -> None:
        key: str | None = None
        if self.single is not None:
            value = mapped.get(self.single)
            if isinstance(value, str) and value.isascii():
                key = value.strip() or None
        if key is None:
            key = match_key(mapped, self.keys, self.case_insensitive)
        if key is not None:
            self.by_key[key] = tuple(map(source.get, self.reads))

    def of(self, change: Change) -> dict[str, str]:
        """Changed field → the source values it was computed from, as text
        (`department="Legal"`); empty for a change that writes no traced field."""
        if change.action not in ("create", "update"):
            return {}
        written = {*change.set, *change.clear, *change.add, *change.remove}
        if not written.intersection(self.traced):
            return {}
        values = self.by_key.get(match_key(change.match, self.keys, self.case_insensitive) or "")
        if values is None:
            return {}
        held = dict(zip(self.reads, values, strict=True))
        return {
            to: "; ".join(f"{name}={shown(held.get(name))}" for name in names)
            for to, names in self.traced.items()
            if to in written
        }


def origins_of(mapping: ObjectMapping) -> Origins | None:
    """What to keep of the mapping's source records; None: nothing (no traced field)."""
    traced = traced_fields(mapping)
    return Origins(mapping, traced) if traced else None


def shown(value: object) -> str:
    """A source value as JSON text: quoted, a list as a list, none as null."""
    if isinstance(value, Binary):
        return f"(binary, {len(value.data)} bytes)"
    if isinstance(value, str) and len(value) > MAX_SHOWN:
        value = value[:MAX_SHOWN] + "…"
    try:
        return json.dumps(value, ensure_ascii=False)
    except TypeError:
        return json.dumps(str(value), ensure_ascii=False)
