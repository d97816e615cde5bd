"""What a destination's provider is told of one object type's fields: the one answer for
a run (services/runner/planning/sides.py) and for `idsync connection test` (reach.py)."""

from __future__ import annotations

from core.engine import destination_multi_valued
from core.engine.containers import follows_container
from schemas.jobs import ObjectMapping

from .base import Layout


def destination_layout(mapping: ObjectMapping, *, identifiers: bool = False) -> Layout:
    """What the destination's provider is told of one type's fields; with `identifiers`
    every record read carries its identifier (a DN) for references to resolve to; where
    objects follow the container their source names, each its container."""
    return Layout(
        keys=tuple(mapping.keys),
        fields=tuple(f.to for f in mapping.fields),
        multi_valued=destination_multi_valued(mapping),
        identifiers=identifiers,
        references=tuple(f.to for f in mapping.fields if f.resolve is not None),
        containers=follows_container(mapping),
    )
