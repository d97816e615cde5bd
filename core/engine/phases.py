"""Phases: the order in which a plan's changes are applied (ARCHITECTURE.md).

Containers first (so new objects have somewhere to go), then objects (creates before
updates), moves, references (fields naming other objects, once those exist where their
names say: a directory such as Active Directory refuses a member DN that names no
entry yet), disables and deletes. Batches of one phase may run in parallel and the
next phase starts when the previous one is done, so a batch never holds two phases.
"""

from __future__ import annotations

from schemas.plan import Action, Change

from .containers import dn_depth

PHASES: tuple[str, ...] = (
    "containers",
    "objects",
    "moves",
    "references",  # fields naming other objects (references.py): every object exists by now,
    # under the name the run gives it (created, renamed, moved)
    "disables",
    "deletes",
)
PHASE_RANK: dict[str, int] = {phase: rank for rank, phase in enumerate(PHASES)}
# The phase of each action for ordinary objects; see `phase_of` for containers.
PHASE_OF: dict[Action, str] = {
    "create": "objects",
    "update": "objects",
    "move": "moves",
    "disable": "disables",
    "delete": "deletes",
    "enable": "objects",  # a restored object is enabled with the updates
}
# Within a phase: creates before updates (the only two actions sharing one).
ACTION_ORDER: dict[Action, int] = {
    "create": 0,
    "update": 1,
    "move": 2,
    "disable": 3,
    "delete": 4,
    "enable": 5,
}
CONTAINER_TYPE = "container"
"""The object type (`[[objects]] type`) of containers such as organizational units:
their creates and updates are the first phase, their deletes the last as any delete."""
# Phases that take objects away from where they are: children go before their parents.
_CHILDREN_FIRST = frozenset({"moves", "deletes"})


def phase_of(change: Change) -> str:
    """The phase a change belongs to."""
    if change.phase:
        return change.phase
    if change.object_type == CONTAINER_TYPE and change.action in ("create", "update"):
        return "containers"
    return PHASE_OF[change.action]


def rank(change: Change) -> tuple[int, int, int, str, str]:
    """Where a change goes in its plan: phase, action, depth, then type and key as shown.

    Depth counts the RDNs of a DN-like key (0 for other keys): parents are created before
    their children, and children are moved or deleted before their parents.
    """
    phase = phase_of(change)
    depth = dn_depth(change.key)
    return (
        PHASE_RANK[phase],
        ACTION_ORDER[change.action],
        -depth if phase in _CHILDREN_FIRST else depth,
        change.object_type,
        change.key,
    )
