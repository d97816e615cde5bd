"""A batch of plain creates as rows, ready for multi-row INSERTs.

A first run's batches are creates of one shape: the same key fields, the same fields
set, nothing cleared. Such a batch is bound straight from its changes — no per-change
`Op`, no statement looked up per change, no tuple per row: a column of parameters per
field, laid into each statement's parameters a column at a time (`Rows.params`) — and
goes in with INSERT … ON CONFLICT where a unique index covers the key (write.py decides
that). Anything else (another action, a key repeated, a field missing, an empty key) is
no such batch: write.py's general path takes it, change by change."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from operator import attrgetter, itemgetter
from typing import cast

from schemas.plan import Change
from schemas.values import Value
from schemas.work import Creates

from ..cells import LIST_JOINER
from .values import Param, param_of


@dataclass(frozen=True, slots=True)
class Rows:
    """The batch's shape and its parameters, a column per field: the key fields'
    (`where`), then the fields set (`names`); each column holds every change's, in order."""

    where: tuple[str, ...]
    names: tuple[str, ...]
    create_only: tuple[str, ...]
    keys: list[list[Param]]
    values: list[list[Param]]
    count: int
    """Changes (rows)."""

    def params(self, columns: Sequence[list[Param]], start: int, size: int) -> list[Param]:
        """The parameters of rows `start` to `start + size`, row after row, of these
        columns: each column laid in at its place in every row at once (in C)."""
        width = len(columns)
        flat: list[Param] = [None] * (width * size)
        for at, column in enumerate(columns):
            flat[at::width] = column[start : start + size]
        return flat


def creates_as_rows(
    changes: Sequence[Change], keys: tuple[str, ...], multi: Mapping[str, str]
) -> Rows | None:
    """The changes as rows when every one is a create of the same shape on a distinct,
    non-empty key; else None. Built a column at a time, in C: each field's value taken
    from every change (every change sets as many fields as the first, and each of the
    first's: the same fields). A column is converted where one of its values is not
    plain text."""
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
        # Each field taken from every change at once, whatever order a change sets them
        # in: quicker than telling whether they share one, and turning them over.
        value_columns = [_column(list(map(itemgetter(n), sets)), multi, n) for n in names]
    except KeyError:
        return None
    distinct = set(key_columns[0]) if len(keys) == 1 else set(zip(*key_columns, strict=True))
    if len(distinct) != len(changes) or any(None in column for column in key_columns):
        return None  # a key twice (applied in order) or empty (its own error): not rows
    return Rows(keys, names, tuple(keep), key_columns, value_columns, len(changes))


def columns_as_rows(
    creates: Creates, keys: tuple[str, ...], multi: Mapping[str, str]
) -> Rows | None:
    """`creates_as_rows` of plain creates sent as columns (schemas/work.py `Creates`):
    their columns are the rows' already, each converted as `_column` converts it; None
    where the table's key is not theirs, or a key is repeated or empty."""
    if not len(creates) or keys != (creates.key_field,):
        return None
    names = creates.fields
    value_columns = [
        _column(column, multi, n) for n, column in zip(names, creates.columns, strict=True)
    ]
    key_column = value_columns[names.index(creates.key_field)]
    if len(set(key_column)) != len(key_column) or None in key_column:
        return None  # a key twice (applied in order) or empty (its own error): not rows
    return Rows(keys, names, (), [key_column], value_columns, len(key_column))


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
