"""Which objects a changed job brings into scope and which leave it, from the plan of
the saved job and the plan of the changed one (pure).

An object comes into scope when the changed plan creates or restores (enables) it and
the saved plan would not, or writes it (an update) while the saved plan removes it for
absence. An update alone is no sign: the saved job may hold the object in scope,
unchanged (a plan lists no unchanged object) — a changed field map updates every object
it maps anew, none of which enters. An object leaves when the changed plan removes it
(delete, disable, move) and the saved plan would not. Where the saved job leaves absent
objects alone (`on_destination_only = "skip"`), an object out of its scope that the
changed job updates cannot be told from one in it: compare the counts."""

from __future__ import annotations

from collections.abc import Iterable

from schemas.plan import Change
from schemas.previews import ScopeChange

WRITES = frozenset({"create", "update", "enable"})
"""Actions on an object the job keeps in scope."""
ENTERS = frozenset({"create", "enable"})
"""Actions on an object a plan holds in scope that no other plan of the same data would
take on an object in scope already (it is not in the destination, or was removed)."""
REMOVES = frozenset({"delete", "disable", "move"})
"""Actions on an object out of the source's scope (absence)."""


def _keys(changes: Iterable[Change], actions: frozenset[str]) -> set[tuple[str, str]]:
    return {(change.object_type, change.key) for change in changes if change.action in actions}


def scope_change(saved: Iterable[Change], changed: Iterable[Change], samples: int) -> ScopeChange:
    """Counts, and the first `samples` keys of each side in key order."""
    before, after = list(saved), list(changed)
    removed_before = _keys(before, REMOVES)
    entered = (_keys(after, ENTERS) - _keys(before, WRITES)) | (
        _keys(after, WRITES) & removed_before
    )
    entering = sorted(entered)
    leaving = sorted(_keys(after, REMOVES) - removed_before)
    return ScopeChange(
        entering=len(entering),
        leaving=len(leaving),
        entering_sample=[key for _, key in entering[:samples]],
        leaving_sample=[key for _, key in leaving[:samples]],
    )
