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
from operator import attrgetter, itemgetter
from typing import cast

from schemas.plan import Change
from schemas.values import Value

from ..cells import LIST_JOINER
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
    non-empty key; else None. Built a column at a time: each field's values taken from
    every change by `map` (in C), converted where one is not plain text, then zipped."""
    if not changes or not keys:
        return None
    first = changes[0]
    names = tuple(first.set)
    keep = first.create_only
    if (
        set(map(_action, changes)) != {"create"}
        or any(map(_clear, changes))
        or (any(c.create_only != keep for c in changes) if keep else any(map(_only, changes)))
    ):
        return None
    sets = list(map(_set, changes))
    matches = list(map(_match, changes))
    if set(map(len, sets)) != {len(names)} or set(map(len, matches)) != {len(keys)}:
        return None
    try:  # a field another change of the batch does not have: KeyError
        key_columns = [_column(list(map(itemgetter(f), matches)), multi, f) for f in keys]
        value_columns = [_column(list(map(itemgetter(n), sets)), multi, n) for n in names]
    except KeyError:
        return None
    key_rows: list[tuple[Param, ...]] = list(zip(*key_columns, strict=True))
    if len(set(key_rows)) != len(key_rows) or any(None in column for column in key_columns):
        return None  # a key twice (applied in order) or empty (its own error): not rows
    value_rows: list[tuple[Param, ...]] = (
        list(zip(*value_columns, strict=True)) if names else [()] * len(changes)
    )
    return Rows(keys, names, tuple(keep), key_rows, value_rows)


_action = attrgetter("action")
_clear = attrgetter("clear")
_set = attrgetter("set")
_match = attrgetter("match")
_only = attrgetter("create_only")


def _column(values: list[Value], multi: Mapping[str, str], name: str) -> list[Param]:
    """One field's values as parameters: text as it is (empty: NULL), lists joined as
    `param_of` joins them."""
    kinds = set(map(type, values))
    if kinds == {str}:
        column: list[Param] = cast(list[Param], values)
    elif kinds == {list}:
        column = list(map(multi.get(name, LIST_JOINER).join, cast(list[list[str]], values)))
    else:
        return [(v or None) if v.__class__ is str else param_of(multi, name, v) for v in values]
    return [v or None for v in column] if "" in column else column
