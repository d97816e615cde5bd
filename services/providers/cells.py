"""Record values as text cells (a file's cells, a text column): a list is joined with its
field's delimiter — or `LIST_JOINER` where the layout declares none — and read back split."""

from __future__ import annotations

from schemas.values import Record, Value, as_text, normalize, split_text

from .base import Layout

LIST_JOINER = ";"
"""Joins a list written to a field the layout does not declare multi-valued."""


def cell(layout: Layout, name: str, value: Value) -> str:
    """A record value as one cell's text: a list joined with the field's delimiter."""
    return as_text(value, layout.multi_valued.get(name, LIST_JOINER))


def canonical_cells(layout: Layout, record: Record) -> Record:
    """The record as text cells give it back (a provider's `canonical`)."""
    multi = layout.multi_valued
    if all(type(v) is str and name not in multi for name, v in record.items()):
        # Text a single cell holds reads back as it is: only empties drop out. The
        # common case, for every source record a plan maps.
        return {name: v for name, v in record.items() if v}
    return normalize(
        {name: split_text(cell(layout, name, v), multi.get(name)) for name, v in record.items()}
    )
