"""Which objects a changed job brings into scope and which leave it, from the plan of
the saved job and the plan of the changed one (pure): the keys the changed plan writes
or removes that the saved plan does not."""

from __future__ import annotations

from collections.abc import Iterable

from schemas.plan import Change
from schemas.previews import ScopeChange

WRITES = frozenset({"create", "update", "enable"})
"""Actions on an object the job keeps in scope."""
REMOVES = frozenset({"delete", "disable", "move"})
"""Actions on an object out of the source's scope (absence)."""


def _keys(changes: Iterable[Change], actions: frozenset[str]) -> set[tuple[str, str]]:
    return {(change.object_type, change.key) for change in changes if change.action in actions}


def scope_change(saved: Iterable[Change], changed: Iterable[Change], samples: int) -> ScopeChange:
    """Counts, and the first `samples` keys of each side in key order."""
    before, after = list(saved), list(changed)
    entering = sorted(_keys(after, WRITES) - _keys(before, WRITES))
    leaving = sorted(_keys(after, REMOVES) - _keys(before, REMOVES))
    return ScopeChange(
        entering=len(entering),
        leaving=len(leaving),
        entering_sample=[key for _, key in entering[:samples]],
        leaving_sample=[key for _, key in leaving[:samples]],
    )
