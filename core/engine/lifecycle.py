"""The deprovisioning lifecycle: disable (or move) now, delete after N days, restore.

Pure: the caller passes when each object was first found absent and the run's clock,
so the same inputs always give the same plan and days can be simulated in tests.

- A destination-only object not seen absent before gets the job's
  `on_destination_only` action (disable or move); the run that applies it records the
  day (services/common/watermarks.py).
- One still absent `delete_after` after that day is deleted; before then it is left
  alone (counted as skipped), so each run does not disable it again.
- One back in the source is restored when the job says `restore`: enabled, and moved
  back to where a new object would be created if it was moved (`move_to`) — as it was
  taken away, where the run that did it said so (`Lifecycle.ways`): a job that disables
  the absent and moves its leavers enables the one and moves the other back, never
  both. Its absence is forgotten either way, so a later absence starts counting afresh.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping
from datetime import datetime, timedelta

import msgspec

from schemas.jobs import ObjectMapping
from schemas.plan import Action, Change


class Lifecycle(msgspec.Struct, frozen=True, kw_only=True):
    absent_since: Mapping[str, datetime]
    """Match key (plan.match_key) → when a run first disabled or moved it for absence."""
    now: datetime
    """The run's clock (its approval time)."""
    delete_after: timedelta | None = None
    """The job's `delete_after`, parsed; None: never delete."""
    ways: Mapping[str, Collection[str]] = msgspec.field(default_factory=dict)
    """Match key → how the run that took it away did (`disable`, `move`, or both: a
    disable with `move_to`), where it was kept; else the job's ways out say."""
    deleted: Collection[str] = frozenset()
    """Match keys of objects a run deleted at the end of their lifecycle, kept where the
    job creates new leavers (`keeps_deleted`): a leaver deleted is not created again."""


LIFECYCLE_ACTIONS = ("disable", "move")
"""The absence actions that start a lifecycle (a delete ends one at once)."""

LEAVER_FIELD = "@leaver"
"""Marks a mapped source record whose `leavers.when` holds (never written or compared)."""


def ways_out(mapping: ObjectMapping) -> set[str]:
    """How the job takes objects away: for absence, and for leavers."""
    ways: set[str] = {mapping.on_destination_only}
    if mapping.leavers is not None:
        ways.add(mapping.leavers.action)
    return ways - {"skip"}


def has_lifecycle(mapping: ObjectMapping) -> bool:
    """Whether runs keep the days objects were disabled or moved for absence (or leaving),
    so that each is disabled or moved once, deleted later, and restored when back."""
    return bool(ways_out(mapping) & set(LIFECYCLE_ACTIONS))


DELETED = "deleted"
"""The way out an absence kept after its object's delete says (`Lifecycle.deleted`)."""


def keeps_deleted(mapping: ObjectMapping) -> bool:
    """Whether runs keep the objects they deleted at the end of a lifecycle: where the job
    creates new leavers (`leavers.new = "create"`), a leaver deleted after `delete_after`
    and still in the source would be a new leaver again — created and disabled anew, and
    deleted again `delete_after` later, for as long as the source keeps it."""
    leavers = mapping.leavers
    return (
        leavers is not None
        and leavers.new == "create"
        and leavers.action != "delete"
        and mapping.on_source_only == "create"
        and has_lifecycle(mapping)
    )


def leaver_container(mapping: ObjectMapping) -> str | None:
    """Where a leaver's object goes when its action moves it."""
    leavers = mapping.leavers
    return (leavers.move_to if leavers else None) or mapping.move_to


def on_absence(
    mapping: ObjectMapping, lifecycle: Lifecycle | None, key: str, leaving: bool = False
) -> Action | None:
    """What a full run does to a destination-only object (with `leaving`: to the object of
    a leaver); None: nothing (yet)."""
    action = mapping.leavers.action if leaving and mapping.leavers else mapping.on_destination_only
    if action == "skip":
        return None
    if action == "delete" or lifecycle is None:
        return action
    since = lifecycle.absent_since.get(key)
    if since is None:
        return action
    if lifecycle.delete_after is not None and lifecycle.now - since >= lifecycle.delete_after:
        return "delete"
    return None  # disabled or moved already: wait for delete_after


def on_return(mapping: ObjectMapping, lifecycle: Lifecycle | None, key: str) -> list[Action]:
    """What a run does to an object back in the source after being disabled or moved for
    absence: enable it, move it back (a disable with `move_to` moved it too), or both."""
    if lifecycle is None or not mapping.restore or key not in lifecycle.absent_since:
        return []
    taken = lifecycle.ways.get(key) or every_way(mapping)  # not kept: any the job has
    back: list[Action] = ["enable"] if "disable" in taken else []
    if "move" in taken:
        back.append("move")
    return back


def every_way(mapping: ObjectMapping) -> list[str]:
    """Every way the job may have taken an object away — `disable`, `move` (a disable
    with `move_to` moves too) —: what a restore undoes where the way was not kept."""
    ways = ways_out(mapping)
    return [
        way
        for way, taken in (
            ("disable", "disable" in ways),
            ("move", "move" in ways or bool(leaver_container(mapping))),
        )
        if taken
    ]


def undoes(change: Change) -> str | None:
    """The way out a restore's change undoes, once applied: an enable the disable, a move
    (back) the move; None for any other change."""
    return {"enable": "disable", "move": "move"}.get(change.action)


def taken_away(mapping: ObjectMapping, change: Change) -> list[str]:
    """How an applied change takes its object away for absence (or leaving) — `disable`,
    `move`, or both (a disable with `move_to`) —; none where it does not (a move back, a
    move to its record's container, a delete, an enable)."""
    if change.action not in LIFECYCLE_ACTIONS or change.action not in ways_out(mapping):
        return []
    if change.action == "disable":
        return ["disable", "move"] if change.container else ["disable"]
    away = {mapping.move_to, leaver_container(mapping)} - {None}
    return ["move"] if change.container in away else []


def returned(
    mapping: ObjectMapping,
    wanted: Mapping[str, object],
    found: Mapping[str, object],
    lifecycle: Lifecycle | None,
    leaving: Mapping[str, object] | None = None,
) -> list[str]:
    """The objects found absent before whose records are back in the source (`wanted`),
    whose absences are to be forgotten as soon as the run is planned: all of them without
    `restore` (nothing is done to them), and with it those that are no more (`found`
    has none: deleted by someone else, or at the end of their lifecycle — created anew).
    A restore applied forgets the others'. So too a leaver's (`leaving`) whose object is
    no more, deleted by someone else: its absence ended with it — a leaver created anew
    (`leavers.new = "create"`) starts its own, and is not deleted by the next run for
    the days the one before it had been away (one deleted at the end of its lifecycle
    stays `deleted`: it is not created again)."""
    if lifecycle is None:
        return []
    back = [key for key in lifecycle.absent_since if key in wanted]
    if mapping.restore:
        back = [key for key in back if key not in found]
    gone = [key for key in lifecycle.absent_since if key in (leaving or ()) and key not in found]
    return sorted(back + gone + [key for key in lifecycle.deleted if key in wanted])
