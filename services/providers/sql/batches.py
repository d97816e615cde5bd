"""A batch of changes ready for set-based statements (PostgreSQL, MySQL): each change
checked and converted (`Op`), runs of changes on distinct keys cut into segments, and
each segment's alike changes (same action, same fields: one `Shape`) grouped, in order.
The provider stages each group's rows and applies it by one statement per step."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from functools import cached_property
from typing import Generic, TypeVar

from schemas.plan import Change
from schemas.values import Value

from ..base import Layout, Outcome
from ..cells import LIST_JOINER
from .values import TypedColumn, reads_as_given

Shape = tuple[str, tuple[str, ...], tuple[str, ...], tuple[str, ...], frozenset[str]]
"""(action, key fields, fields set, columns cleared, fields a create sets only when new)."""

C = TypeVar("C", bound=TypedColumn)


_NONE: frozenset[str] = frozenset()


@dataclass(slots=True)
class Op:
    """One change ready to stage: its key values and the values it sets."""

    index: int
    change: Change
    where: tuple[str, ...]
    key: tuple[str, ...]
    """The key as the table compares it ("042" in an integer column is "42")."""
    key_params: list[object]
    names: tuple[str, ...]
    values: list[object]
    cleared: tuple[str, ...]
    shape: Shape

    @property
    def row(self) -> tuple[object, ...]:
        return (self.index, *self.key_params, *self.values)


def wanted_columns(layout: Layout, changes: list[Change]) -> list[str]:
    """The columns the batch needs, in order: the layout's keys and fields, then the
    fields the changes name."""
    wanted = dict.fromkeys([*layout.keys, *layout.fields])
    seen: set[tuple[str, ...]] = set()
    for change in changes:
        names = (*change.match, *change.set)
        if names not in seen:  # a batch's changes mostly name the same fields
            seen.add(names)
            wanted.update(dict.fromkeys(names))
    return list(wanted)


@dataclass(frozen=True)
class Batcher(Generic[C]):
    """Turns a batch into groups of alike changes for one table's `columns`."""

    tag: str
    """The provider's name, in the error of an action it does not support."""
    layout: Layout
    columns: Mapping[str, C]
    param_of: Callable[[C, Value, str | None], object]
    """A record value as the parameter its column is staged with (None when empty)."""
    canonical_value: Callable[[C, Value, str | None], Value]
    """A record value as the column gives it back."""

    @cached_property
    def _given(self) -> frozenset[str]:
        """The columns whose parameter and value read back are a text value itself."""
        return frozenset(n for n, c in self.columns.items() if reads_as_given(c))

    @cached_property
    def _joiners(self) -> dict[str, str]:
        """The delimiter a list goes into each such column with (its empty items left
        out): what `param_of` makes of it, without its checks — the hot path of a batch."""
        multi = self.layout.multi_valued
        return {n: multi.get(n) or LIST_JOINER for n in self._given}

    def groups(self, changes: list[Change], outcomes: list[Outcome]) -> list[list[Op]]:
        """The batch's groups of alike changes, in the order they are applied; a change
        that cannot be applied gets its error in `outcomes` instead."""
        groups: list[list[Op]] = []
        for segment in self._segments(changes, outcomes):
            shapes: dict[Shape, list[Op]] = {}
            for op in segment:
                shapes.setdefault(op.shape, []).append(op)
            groups.extend(shapes.values())
        return groups

    def _prepare(self, index: int, change: Change) -> Op | str:
        """The change ready to stage, or why it cannot be applied."""
        action = change.action
        if action not in ("create", "update", "delete"):
            return f"{self.tag} does not support {action}"
        where = self.layout.keys or tuple(change.match)
        if not where:
            return "the change has no key"
        columns, multi, given, joiners = (
            self.columns,
            self.layout.multi_valued,
            self._given,
            self._joiners,
        )
        param_of, match = self.param_of, change.match
        key_params = [
            None
            if (value := match.get(f)) is None
            else (value or None)
            if f in given and type(value) is str and f not in multi
            else param_of(columns[f], value, multi.get(f))
            for f in where
        ]
        if None in key_params:
            missing = [f for f, p in zip(where, key_params, strict=True) if p is None]
            return f"no value for key field {missing[0]!r}"
        key = tuple(
            [
                value
                if f in given and type(value := match[f]) is str
                else str(self.canonical_value(columns[f], match[f], None))
                for f in where
            ]
        )
        names = tuple(change.set)
        values = [
            (v or None)
            if n in given and type(v) is str and n not in multi
            else (joiners[n].join([item for item in v if item]) or None)
            if type(v) is list and n in joiners
            else param_of(columns[n], v, multi.get(n))
            for n, v in change.set.items()
        ]
        cleared = (
            tuple([n for n in change.clear if n in columns and n not in change.set])
            if change.clear
            else ()
        )
        keep = frozenset(change.create_only) & frozenset(names) if change.create_only else _NONE
        shape = (action, where, names, cleared, keep)
        return Op(index, change, where, key, key_params, names, values, cleared, shape)

    def _rekeys(self, op: Op) -> bool:
        """An update that gives the object another key: it goes alone, in order."""
        if op.change.action != "update":
            return False
        columns, changed = self.columns, op.change.set
        return any(
            f in changed and str(self.canonical_value(columns[f], changed[f], None)) != k
            for f, k in zip(op.where, op.key, strict=True)
        )

    def _segments(self, changes: list[Change], outcomes: list[Outcome]) -> list[list[Op]]:
        """Changes on distinct keys commute: runs of them go together, cut where a key
        repeats; an update that changes a key runs alone."""
        segments: list[list[Op]] = [[]]
        seen: set[tuple[str, ...]] = set()
        for i, change in enumerate(changes):
            op = self._prepare(i, change)
            if isinstance(op, str):
                outcomes[i] = Outcome(error=op)
                continue
            rekey = self._rekeys(op)
            if op.key in seen or rekey:
                segments.append([])
                seen = set()
            segments[-1].append(op)
            seen.add(op.key)
            if rekey:
                segments.append([])
                seen = set()
        return [segment for segment in segments if segment]
