"""Simulation: a destination's records after a plan's changes, as a provider would leave them.

Used by previews and by the property tests (apply, then plan again: nothing to do).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from schemas.plan import Change
from schemas.values import Record

from .keys import match_key
from .mapping import normalized


def apply_to(
    records: Iterable[Record],
    changes: Iterable[Change],
    keys: Sequence[str],
    case_insensitive: bool,
) -> list[Record]:
    """The destination `records` after `changes`, simulated.

    Idempotent, as a provider: create = create if absent, else set; update = set and
    clear; delete = remove if present; disable and move leave the record as it is (what
    they mean is the provider's business, not a field). A change reaches every record
    with its key. Records come back normalized, existing ones first, then created ones.

    Policies need nothing here: the plan already holds each field's resulting value
    (a kept field is not in the change, a merged one holds the union).
    """
    state: list[Record | None] = [normalized(record) for record in records]
    positions: dict[str, list[int]] = {}
    for position, record in enumerate(state):
        key = match_key(record or {}, keys, case_insensitive)
        if key is not None:
            positions.setdefault(key, []).append(position)
    for change in changes:
        key = match_key(change.match, keys, case_insensitive)
        if key is None:
            continue  # A change without a usable key finds no object.
        targets = positions.get(key, [])
        if change.action == "create" and not targets:
            positions[key] = [len(state)]
            state.append(normalized({**change.match, **change.set}))
        elif change.action in ("create", "update"):
            for position in targets:
                state[position] = _patched(state[position] or {}, change)
        elif change.action == "delete":
            for position in positions.pop(key, []):
                state[position] = None
    return [record for record in state if record is not None]


def _patched(record: Record, change: Change) -> Record:
    patched = {**record, **change.set}
    for field in change.clear:
        patched.pop(field, None)
    return normalized(patched)
