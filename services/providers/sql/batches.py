"""A batch of changes ready for set-based statements (PostgreSQL, MySQL): each change
checked and converted (`Op`), runs of changes on distinct keys cut into segments, and
each segment's alike changes (same action, same fields: one `Shape`) grouped, in order.
The provider stages each group's rows and applies it by one statement per step."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Generic, TypeVar

from schemas.plan import Change
from schemas.values import Value

from ..base import Layout, Outcome

Shape = tuple[str, tuple[str, ...], tuple[str, ...], tuple[str, ...], frozenset[str]]
"""(action, key fields, fields set, columns cleared, fields a create sets only when new)."""

C = TypeVar("C")


@dataclass(slots=True)
class Op:
    """One change ready to stage: its key values and the values it sets."""

    index: int
    change: Change
    where: tuple[str, ...]
    key: tuple[str, ...]
    """The key as the table compares it ("042" in an integer column is "42")."""
    key_params: tuple[object, ...]
    names: tuple[str, ...]
    values: tuple[object, ...]
    cleared: tuple[str, ...]

    @property
    def shape(self) -> Shape:
        keep = frozenset(self.change.create_only) & frozenset(self.names)
        return (self.change.action, self.where, self.names, self.cleared, keep)

    @property
    def row(self) -> tuple[object, ...]:
        return (self.index, *self.key_params, *self.values)


def wanted_columns(layout: Layout, changes: list[Change]) -> list[str]:
    """The columns the batch needs, in order: the layout's keys and fields, then the
    fields the changes name."""
    wanted = dict.fromkeys([*layout.keys, *layout.fields])
    for change in changes:
        wanted.update(dict.fromkeys([*change.match, *change.set]))
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
        if change.action not in ("create", "update", "delete"):
            return f"{self.tag} does not support {change.action}"
        where = self.layout.keys or tuple(change.match)
        if not where:
            return "the change has no key"
        columns, multi = self.columns, self.layout.multi_valued
        key_params = tuple(
            self.param_of(columns[f], change.match[f], multi.get(f)) if f in change.match else None
            for f in where
        )
        if None in key_params:
            missing = [f for f, p in zip(where, key_params, strict=True) if p is None]
            return f"no value for key field {missing[0]!r}"
        key = tuple(str(self.canonical_value(columns[f], change.match[f], None)) for f in where)
        names = tuple(change.set)
        values = tuple(self.param_of(columns[n], v, multi.get(n)) for n, v in change.set.items())
        cleared = tuple(n for n in change.clear if n in columns and n not in change.set)
        return Op(index, change, where, key, key_params, names, values, cleared)

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
