"""Samples: a few source records and what every mapped field becomes, for `job preview`."""

from __future__ import annotations

import msgspec

from schemas.values import Record, Value

from .mapping import CompiledMapping
from .transforms import RecordFailed

GENERATED = "(generated at apply time)"


class Sample(msgspec.Struct, frozen=True, kw_only=True):
    object_type: str
    """The job's object type the record is mapped as (`ObjectMapping.type`)."""
    source: Record
    mapped: dict[str, Value | None]
    """Every mapped destination field, in the job's order; None: no value."""
    generated: list[str] = msgspec.field(default_factory=list)
    """Fields whose value is a password made when the record is created."""
    error: str | None = None
    """Why this record cannot be mapped (a run reports it as the record's error)."""


def sample(compiled: CompiledMapping, record: Record) -> Sample:
    generated = list(compiled.generated)
    try:
        mapped = compiled.map(record)
    except RecordFailed as error:
        return Sample(
            object_type=compiled.mapping.type,
            source=record,
            mapped={},
            generated=generated,
            error=str(error),
        )
    fields = [field.to for field in compiled.mapping.fields] or list(mapped)
    every: dict[str, Value | None] = {
        name: mapped.get(name) for name in dict.fromkeys(fields) if name not in generated
    }
    return Sample(
        object_type=compiled.mapping.type, source=record, mapped=every, generated=generated
    )
