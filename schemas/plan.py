"""Plans: the changes a run will make, computed in full before the first write."""

from __future__ import annotations

from typing import Literal

import msgspec

from .values import Record

Action = Literal["create", "update", "delete", "disable", "move", "enable"]


class Change(msgspec.Struct, frozen=True, kw_only=True, omit_defaults=True, gc=False):
    """One write to one destination object."""

    action: Action
    key: str
    """The object's key values, as people read them (joined with " / ")."""
    match: Record
    """Destination key fields and values that find the object."""
    set: Record = msgspec.field(default_factory=dict)
    """Fields written: every mapped field on create, the changed ones on update."""
    clear: tuple[str, ...] = ()
    """Fields emptied by an update."""
    before: Record = msgspec.field(default_factory=dict)
    """The destination's values of the changed fields before the write."""
    create_only: tuple[str, ...] = ()
    """Fields of a create written only when the object is new (e.g. a generated password):
    a create applied again to an object that exists leaves them as they are."""
    object_type: str = "user"
    container: str | None = None
    """Directories: on create, where the new object goes; on move, where it goes to.
    None: the provider's default (the destination's own scope)."""
    add: dict[str, list[str]] = msgspec.field(default_factory=dict)
    """Multi-valued fields: values added to those already there (group members)."""
    remove: dict[str, list[str]] = msgspec.field(default_factory=dict)
    """Multi-valued fields: values removed, the others left as they are."""
    phase: str = ""
    """The phase when not the action's own: "references" for fields naming other objects."""
    follow_up: bool = False
    """The second change of an object this plan already counts (its create or update):
    applied in a later phase, not counted again."""
    identifier: str = ""
    """The object's identifier at the destination where it has one besides its key (an
    LDAP DN): the one it was read with, or the one a create gives it. For the history;
    never used to find the object. Empty: none (the key is the identifier)."""
    sources: dict[str, str] = msgspec.field(default_factory=dict)
    """For the history: each written field whose value a transformation (or a reference)
    computed → the source values it was computed from (`department="Legal"`). A plain
    copy has none (its source held the value written), nor has a secret."""


class RecordError(msgspec.Struct, frozen=True, kw_only=True):
    """Why one record failed (or was skipped): found while planning (action "map",
    "resolve", "skip") or when its change was applied (the change's action)."""

    key: str
    action: str
    message: str
    object_type: str = ""
    """The record's object type (empty: not known, as in errors recorded before each
    record that failed to map was told by its type)."""
    skipped: bool = False
    """The record is left alone on purpose and the plan counts it as skipped (a reference
    that resolves to nothing with `if_none = "skip"`): a reason shown, not a failure."""


class PlanCounts(msgspec.Struct, kw_only=True):
    create: int = 0
    update: int = 0
    delete: int = 0
    disable: int = 0
    move: int = 0
    unchanged: int = 0
    skipped: int = 0
    enable: int = 0
    """Objects back in the source after being disabled or moved for absence (restore)."""

    @property
    def changes(self) -> int:
        return self.create + self.update + self.delete + self.disable + self.move + self.enable


class RunStats(msgspec.Struct, kw_only=True):
    """Run statistics, the same names everywhere."""

    read: int = 0
    created: int = 0
    updated: int = 0
    deleted: int = 0
    disabled: int = 0
    moved: int = 0
    unchanged: int = 0
    skipped: int = 0
    failed: int = 0
    dead_letters: int = 0
    """Batches given up on and dropped (their records are counted in `failed`)."""
    enabled: int = 0
    """Objects restored: enabled again because they are back in the source."""

    def add(self, other: RunStats) -> RunStats:
        return RunStats(
            **{name: getattr(self, name) + getattr(other, name) for name in self.__struct_fields__}
        )

    @property
    def written(self) -> int:
        lifecycle = self.disabled + self.moved + self.enabled
        return self.created + self.updated + self.deleted + lifecycle


# The statistic each applied action counts towards.
APPLIED_STAT: dict[str, str] = {
    "create": "created",
    "update": "updated",
    "delete": "deleted",
    "disable": "disabled",
    "move": "moved",
    "enable": "enabled",
}
