"""Mapping: a source record in the destination's shape, and what a job manages there.

Pure functions of a record and a job's `ObjectMapping`: no I/O, inputs never mutated.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import cast

from schemas.jobs import ObjectMapping
from schemas.values import Record, Value, is_empty, normalize, split_text


def map_record(record: Record, mapping: ObjectMapping) -> Record:
    """The source `record` in destination shape, normalized (no empty values).

    With no field maps every field is copied under its own name. Otherwise each
    `FieldMap` takes its source field; a multi-valued field (one with a delimiter)
    whose source holds text is split on the delimiter, and a list stays a list.
    When two field maps write the same destination field, the later one wins.
    """
    if not mapping.fields:
        return normalized(record)
    shaped: Record = {}
    for field in mapping.fields:
        value = present(record.get(field.from_ or field.to))
        if value is None:
            continue
        if field.delimiter is not None and isinstance(value, str):
            value = split_text(value, field.delimiter)
            if not value:
                continue
        shaped[field.to] = value  # present() copies lists: nothing is shared with the input
    return shaped


def source_multi_valued(mapping: ObjectMapping) -> dict[str, str]:
    """Source field -> delimiter, for each multi-valued field (the source side's layout)."""
    return {field.source: field.delimiter for field in mapping.fields if field.delimiter}


def destination_multi_valued(mapping: ObjectMapping) -> dict[str, str]:
    """Destination field -> delimiter, for each multi-valued field."""
    return {field.to: field.delimiter for field in mapping.fields if field.delimiter}


def managed_fields(mapping: ObjectMapping, source_fields: Iterable[str]) -> tuple[str, ...]:
    """The destination fields the job writes, in order and without repeats.

    With field maps these are their `to` fields; when the job copies every field,
    they are the source fields seen, in first-seen order (so pass the fields of all
    source records read, not of one record).
    """
    if mapping.fields:
        return tuple(dict.fromkeys(field.to for field in mapping.fields))
    return tuple(dict.fromkeys(source_fields))


def present(value: Value | None) -> Value | None:
    """The value as `normalize` keeps it (lists copied), None for every "no value".

    Lets the planner compare just the fields it needs instead of copying whole records.
    """
    if isinstance(value, str):
        return value or None
    if isinstance(value, list):
        return [item for item in value if item] or None
    return None if value is None or is_empty(value) else value


def normalized(record: Record) -> Record:
    """A normalized copy of `record` (lists copied too, so it shares nothing mutable)."""
    # normalize also accepts missing values (None) and only reads its argument, but dict
    # is invariant, so mypy needs telling that a Record is acceptable.
    return normalize(cast(dict[str, Value | None], record))
