"""A batch of changes ready for set-based statements (PostgreSQL, MySQL): each change
checked and converted (`Op`), runs of changes on distinct keys cut into segments, and
each segment's alike changes (same action, same fields: one `Shape`) grouped, in order.
The provider stages each group's rows and applies it by one statement per step."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from functools import cached_property
from itertools import chain, repeat
from operator import attrgetter, itemgetter
from typing import Generic, TypeVar, cast

import msgspec

from schemas.plan import Change
from schemas.values import Value
from schemas.work import Changes, Creates

from ..base import Layout, Outcome
from ..cells import LIST_JOINER
from .values import TypedColumn, bends, reads_as_given, refused

Shape = tuple[str, tuple[str, ...], tuple[str, ...], tuple[str, ...], frozenset[str]]
"""(action, key fields, fields set, columns cleared, fields a create sets only when new)."""

C = TypeVar("C", bound=TypedColumn)


_NONE: frozenset[str] = frozenset()
_action = attrgetter("action")
_clear = attrgetter("clear")
_only = attrgetter("create_only")
_set = attrgetter("set")
_match = attrgetter("match")


@dataclass(slots=True)
class Op:
    """One change ready to stage: its key values and the values it sets."""

    index: int
    change: Change
    where: tuple[str, ...]
    key: tuple[str, ...]
    """The key as the table compares it ("042" in an integer column is "42")."""
    row: tuple[object, ...]
    """As staged: the index, the key's parameters, then the values set (`names`)."""
    names: tuple[str, ...]
    cleared: tuple[str, ...]
    shape: Shape

    @property
    def key_params(self) -> tuple[object, ...]:
        return self.row[1 : 1 + len(self.where)]

    @property
    def values(self) -> tuple[object, ...]:
        return self.row[1 + len(self.where) :]


def wanted_columns(layout: Layout, changes: Changes) -> list[str]:
    """The columns the batch needs, in order: the layout's keys and fields, then the
    fields the changes name."""
    wanted = dict.fromkeys([*layout.keys, *layout.fields])
    if isinstance(changes, Creates):  # each sets the same fields
        return list(wanted | dict.fromkeys([changes.key_field, *changes.fields]))
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
    def _empty_text(self) -> frozenset[str]:
        """The text columns that refuse NULL: no value goes in as empty text."""
        return frozenset(n for n, c in self.columns.items() if c.empty_text)

    @cached_property
    def _unfilled(self) -> tuple[str, ...]:
        """The fields the job maps to a text column refusing NULL (`_empty_text`) but the
        keys: a create that gives one no value writes it as empty text, as an update
        clearing it does — not NULL, which the column refuses (or its default, which the
        next run clears)."""
        keys = self.layout.keys
        return tuple(n for n in self.layout.fields if n in self._empty_text and n not in keys)

    def _filled(self, changes: list[Change]) -> list[Change]:
        """The creates with every `_unfilled` field they lack set to empty text."""
        unfilled = self._unfilled
        return [
            msgspec.structs.replace(change, set={**change.set, **dict.fromkeys(missing, "")})
            if change.action == "create"
            and (missing := [n for n in unfilled if n not in change.set])
            else change
            for change in changes
        ]

    @cached_property
    def _rounded(self) -> frozenset[str]:
        """The columns that bend a value rather than refuse it (decimals, dates: `refused`)."""
        return frozenset(n for n, c in self.columns.items() if bends(c))

    @cached_property
    def _joiners(self) -> dict[str, str]:
        """The delimiter a list goes into each such column with (its empty items left
        out): what `param_of` makes of it, without its checks — the hot path of a batch."""
        multi = self.layout.multi_valued
        return {n: multi.get(n) or LIST_JOINER for n in self._given}

    def groups(self, changes: list[Change], outcomes: list[Outcome]) -> list[list[Op]]:
        """The batch's groups of alike changes, in the order they are applied; a change
        that cannot be applied gets its error in `outcomes` instead."""
        if self._unfilled:
            changes = self._filled(changes)
        if (creates := self._creates(changes)) is not None:
            return [creates]
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
        if self._rounded:
            for n in self._rounded.intersection(change.set):
                v = change.set[n]
                if type(v) is str and (why := refused(columns[n], v)):
                    return f"{n}: {why}"
        names = tuple(change.set)
        values = [
            (v or None)
            if n in given and type(v) is str and n not in multi
            else (joiners[n].join([item for item in v if item]) or None)
            if type(v) is list and n in joiners
            else param_of(columns[n], v, multi.get(n))
            for n, v in change.set.items()
        ]
        if self._empty_text:  # no value, in a text column refusing NULL: empty text
            values = [
                "" if p is None and n in self._empty_text else p
                for n, p in zip(names, values, strict=True)
            ]
        cleared = (
            tuple([n for n in change.clear if n in columns and n not in change.set])
            if change.clear
            else ()
        )
        keep = frozenset(change.create_only) & frozenset(names) if change.create_only else _NONE
        shape = (action, where, names, cleared, keep)
        return Op(index, change, where, key, (index, *key_params, *values), names, cleared, shape)

    def _creates(self, changes: list[Change]) -> list[Op] | None:
        """A first run's batch — plain creates of one shape on distinct keys of text
        columns — as one group, prepared a field at a time: each field's values taken from
        every change by `map` (in C), converted as `_prepare` converts them, and zipped
        into the rows staged. None for any other batch (`_prepare` takes each change)."""
        where = self.layout.keys
        if not changes or not where or set(map(_action, changes)) != {"create"}:
            return None
        first = changes[0]
        names = tuple(first.set)
        keep = first.create_only
        if any(map(_clear, changes)) or (
            any(c.create_only != keep for c in changes) if keep else any(map(_only, changes))
        ):
            return None
        sets = list(map(_set, changes))
        matches = list(map(_match, changes))
        if set(map(len, sets)) != {len(names)} or set(map(len, matches)) != {len(where)}:
            return None
        given, multi = self._given, self.layout.multi_valued
        try:  # a field another change of the batch does not have: KeyError
            keys: list[list[object]] = []
            for f in where:
                column = list(map(itemgetter(f), matches))
                if f not in given or f in multi or set(map(type, column)) != {str}:
                    return None
                if "" in column:
                    return None  # an empty key: its own error
                keys.append(column)
            raw = [list(map(itemgetter(n), sets)) for n in names]
        except KeyError:
            return None
        if self._rounds(names, raw):
            return None
        values = self._filled_columns(
            names, [self._column(n, c) for n, c in zip(names, raw, strict=True)]
        )
        key_rows = cast(list[tuple[str, ...]], list(zip(*keys, strict=True)))
        if len(set(key_rows)) != len(key_rows):
            return None  # a key twice: applied in order
        count = len(changes)
        rows = list(zip(range(count), *keys, *values, strict=True))
        kept = frozenset(keep) & frozenset(names) if keep else _NONE
        shape: Shape = ("create", where, names, (), kept)
        return list(
            map(
                Op,
                range(count),
                changes,
                repeat(where),
                key_rows,
                rows,
                repeat(names),
                repeat(()),
                repeat(shape),
            )
        )

    def column_params(self, creates: Creates) -> tuple[Shape, dict[str, list[object]]] | None:
        """Plain creates sent as columns (schemas/work.py `Creates`) as `_creates` prepares
        a first run's changes: their shape, and each field's values as the parameters
        `_prepare` makes of them (the fields `_unfilled` they lack given empty text). None
        where they are no such group — a key that is not the table's, empty, repeated or
        not text, a decimal the column would round: then their changes go as any batch's,
        each told apart."""
        where = self.layout.keys
        field = creates.key_field
        if not len(creates) or where != (field,):
            return None
        keys = creates.keys
        if (
            field not in self._given
            or field in self.layout.multi_valued
            or set(map(type, keys)) != {str}
            or "" in keys
            or len(set(keys)) != len(keys)
        ):
            return None
        count = len(keys)
        lacking = [n for n in self._unfilled if n not in creates.fields]
        names = (*creates.fields, *lacking)
        empty: list[Value] = [""] * count
        columns = [*creates.columns, *(list(empty) for _ in lacking)]
        if self._rounds(names, columns):
            return None
        values = [self._column(n, c) for n, c in zip(names, columns, strict=True)]
        params = dict(zip(names, self._filled_columns(names, values), strict=True))
        return ("create", where, names, (), _NONE), params

    def _rounds(self, names: tuple[str, ...], columns: list[list[Value]]) -> bool:
        """Whether a value of `names`' `columns` is one a decimal column would round
        (`refused`): each change is then prepared alone, for that one to fail."""
        return any(
            type(v) is str and refused(self.columns[n], v) is not None
            for n, column in zip(names, columns, strict=True)
            if n in self._rounded
            for v in column
        )

    def _filled_columns(
        self, names: tuple[str, ...], values: list[list[object]]
    ) -> list[list[object]]:
        """No value, in a text column refusing NULL: empty text."""
        if not self._empty_text:
            return values
        return [
            ["" if p is None else p for p in column] if n in self._empty_text else column
            for n, column in zip(names, values, strict=True)
        ]

    def _column(self, name: str, values: list[Value]) -> list[object]:
        """One field's values of every change, as `_prepare` converts each."""
        kinds = set(map(type, values))
        if name in self._given and name not in self.layout.multi_valued and kinds == {str}:
            return [v or None for v in values] if "" in values else list(values)
        joiner = self._joiners.get(name)
        if joiner is not None and kinds == {list}:
            lists = cast(list[list[str]], values)
            if "" in chain.from_iterable(lists):
                lists = [[item for item in items if item] for items in lists]
            joined = list(map(joiner.join, lists))
            return [v or None for v in joined] if "" in joined else list(joined)
        column, delimiter = self.columns[name], self.layout.multi_valued.get(name)
        return [
            (v or None)
            if name in self._given and type(v) is str and name not in self.layout.multi_valued
            else (self._joiners[name].join([item for item in v if item]) or None)
            if type(v) is list and name in self._joiners
            else self.param_of(column, v, delimiter)
            for v in values
        ]

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
