"""A batch's changes as what they do to the rows of one key (pure).

Both ways of writing a sheet (in place, or anew) group a batch's changes by key and
settle each key's changes in their order against the row the sheet has for it: a create
is create-if-absent (an existing row gets the values), an update sets values, a delete
removes the row, a disable marks it and an enable clears the mark — where the row holds
it: a mark on a field the job writes too (`status`) keeps the value an update of the
restore just wrote there. So a batch applied twice leaves the sheet as once.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

import msgspec

from schemas.jobs import RowMark
from schemas.plan import Change

from ..base import Layout, Outcome
from ..cells import cell
from .values import MAX_TEXT, escape

Cells = dict[str, str]
"""A row's texts by field; "" for a field the changes clear."""
Key = tuple[str, ...]
ACTIONS = ("create", "update", "delete", "disable", "enable")


class Prepared(msgspec.Struct, frozen=True, array_like=True):
    """One change, its values as cell texts (as staged, too: staging.py)."""

    at: int
    """Its place in the batch."""
    action: str
    key: Key
    match: Cells
    values: Cells
    batch: int = 0
    """The batch it came in, where several are written at once (write.py, staging.py)."""
    mark: str | None = None
    """An enable's mark value: the mark field is cleared only where it holds it."""


def prepare_all(
    layout: Layout, mark: RowMark, changes: list[Change]
) -> tuple[list[Outcome], list[Prepared]]:
    """A batch's outcomes so far (the refused changes' errors) and the changes to write."""
    outcomes = [Outcome()] * len(changes)
    prepared: list[Prepared] = []
    for at, change in enumerate(changes):
        found = prepare(layout, mark, at, change)
        if isinstance(found, str):
            outcomes[at] = Outcome(error=found)
        else:
            prepared.append(found)
    return outcomes, prepared


def prepare(layout: Layout, mark: RowMark, at: int, change: Change) -> Prepared | str:
    """The change as texts, or the error that keeps it from being applied."""
    if change.action not in ACTIONS:
        return f"excel does not support {change.action}"
    keys = layout.keys or tuple(change.match)
    match = {k: cell(layout, k, change.match.get(k, "")) for k in keys}
    missing = [k for k, text in match.items() if not text]
    if missing:
        return f"no value for key field {missing[0]!r}"
    values = {name: cell(layout, name, value) for name, value in change.set.items()}
    values.update(dict.fromkeys(change.clear, ""))
    marked = None
    if change.action == "disable":
        values = {mark.field: mark.value}
    elif change.action == "enable":
        values, marked = {mark.field: ""}, mark.value
    for name, text in values.items():
        if len(text) > MAX_TEXT or len(escape(text)) > MAX_TEXT:
            return f"{name}: {len(text):,} characters, more than the {MAX_TEXT:,} a cell holds"
    return Prepared(at, change.action, tuple(match.values()), match, values, mark=marked)


def by_key(changes: Iterable[Prepared]) -> dict[Key, list[Prepared]]:
    """The changes of each key, in the batch's order; keys in order of first change."""
    grouped: dict[Key, list[Prepared]] = {}
    for change in changes:
        grouped.setdefault(change.key, []).append(change)
    return grouped


def by_batch(group: Sequence[Prepared]) -> list[Sequence[Prepared]]:
    """A key's changes, in order, cut where the batch they came in changes: several batches
    written at once are settled one after the other, as writing each would (a cell's type
    is decided by what the batch before left in it)."""
    parts: list[Sequence[Prepared]] = []
    start = 0
    for at in range(1, len(group) + 1):
        if at == len(group) or group[at].batch != group[start].batch:
            parts.append(group[start:at])
            start = at
    return parts


def settle(row: Cells | None, changes: Sequence[Prepared]) -> tuple[Cells | None, list[str | None]]:
    """The row after the changes (None: no row), and each change's error (None: applied)."""
    errors: list[str | None] = []
    for change in changes:
        error = None
        if change.action == "delete":
            row = None
        elif change.action == "create":
            row = {**(row if row is not None else change.match), **change.values}
        elif row is None:
            shown = "/".join(change.key)
            error = f"no row with {shown!r} to {change.action}"
        elif change.mark is None or all(_holds(row.get(f), change.mark) for f in change.values):
            row = {**row, **change.values}
        errors.append(error)
    return row, errors


def _holds(text: str | None, mark: str) -> bool:
    """Whether a cell's text is the mark (spaces and case aside, as a person types it)."""
    return (text or "").strip().casefold() == mark.strip().casefold()


def fields_of(layout: Layout, changes: Iterable[Prepared]) -> list[str]:
    """The fields a new sheet's header names: the layout's, then those the changes set."""
    return list(dict.fromkeys([*layout.keys, *layout.fields, *fields_set(changes)]))


def fields_set(changes: Iterable[Prepared]) -> list[str]:
    """The fields the changes give a value (a sheet's header gets those it lacks)."""
    names: dict[str, None] = {}
    for change in changes:
        if change.action != "delete":
            names.update(dict.fromkeys(change.match))
            names.update(dict.fromkeys(n for n, text in change.values.items() if text))
    return list(names)
