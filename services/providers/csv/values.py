"""Record values as CSV cells: a list joins with the field's delimiter."""

from __future__ import annotations

from schemas.values import Value, as_text

from ..base import Layout

LIST_JOINER = ";"
"""Joins a list written to a field the layout does not declare multi-valued."""


def cell(layout: Layout, name: str, value: Value) -> str:
    return as_text(value, layout.multi_valued.get(name, LIST_JOINER))
