"""A batch of plain creates as rows, ready for one `executemany`.

A first run's batches are creates of one shape: the same key fields, the same fields
set, nothing cleared. Such a batch is bound as rows straight from its changes — no
per-change `Op`, no statement looked up per change — and goes in with one INSERT … ON
CONFLICT where a unique index covers the key (write.py decides that). Anything else
(another action, a key repeated, a field missing, an empty key) is no such batch:
write.py's general path takes it, change by change."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from schemas.plan import Change

from .values import Param, param_of


@dataclass(frozen=True, slots=True)
class Rows:
    """The batch's shape and each change's parameters: key fields first, then the
    fields set, in `names`' order."""

    where: tuple[str, ...]
    names: tuple[str, ...]
    create_only: tuple[str, ...]
    keys: list[tuple[Param, ...]]
    values: list[tuple[Param, ...]]


def creates_as_rows(
    changes: Sequence[Change], keys: tuple[str, ...], multi: Mapping[str, str]
) -> Rows | None:
    """The changes as rows when every one is a create of the same shape on a distinct,
    non-empty key; else None."""
    if not changes or not keys:
        return None
    first = changes[0]
    names = tuple(first.set)
    keep = first.create_only
    width, key_width = len(names), len(keys)
    key_rows: list[tuple[Param, ...]] = []
    value_rows: list[tuple[Param, ...]] = []
    try:
        for change in changes:
            values = change.set
            match = change.match
            if (
                change.action != "create"
                or change.clear
                or len(values) != width
                or len(match) != key_width
                or change.create_only != keep
            ):
                return None
            key_rows.append(
                tuple(
                    [
                        (v or None) if (v := match[f]).__class__ is str else param_of(multi, f, v)
                        for f in keys
                    ]
                )
            )
            value_rows.append(
                tuple(
                    [
                        (v or None) if (v := values[n]).__class__ is str else param_of(multi, n, v)
                        for n in names
                    ]
                )
            )
    except KeyError:  # a field another change of the batch does not have
        return None
    if len(set(key_rows)) != len(key_rows) or any(None in key for key in key_rows):
        return None  # a key twice (applied in order) or empty (its own error): not rows
    return Rows(keys, names, tuple(keep), key_rows, value_rows)
