"""The deprovisioning lifecycle: disable (or move) now, delete after N days, restore.

Pure: the caller passes when each object was first found absent and the run's clock,
so the same inputs always give the same plan and days can be simulated in tests.

- A destination-only object not seen absent before gets the job's
  `on_destination_only` action (disable or move); the run that applies it records the
  day (services/common/watermarks.py).
- One still absent `delete_after` after that day is deleted; before then it is left
  alone (counted as skipped), so each run does not disable it again.
- One back in the source is restored when the job says `restore`: enabled, and moved
  back to where a new object would be created if it was moved (`move_to`). Its absence
  is forgotten either way, so a later absence starts counting afresh.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime, timedelta

import msgspec

from schemas.jobs import ObjectMapping
from schemas.plan import Action


class Lifecycle(msgspec.Struct, frozen=True, kw_only=True):
    absent_since: Mapping[str, datetime]
    """Match key (plan.match_key) → when a run first disabled or moved it for absence."""
    now: datetime
    """The run's clock (its approval time)."""
    delete_after: timedelta | None = None
    """The job's `delete_after`, parsed; None: never delete."""


LIFECYCLE_ACTIONS = ("disable", "move")
"""The absence actions that start a lifecycle (a delete ends one at once)."""


def on_absence(mapping: ObjectMapping, lifecycle: Lifecycle | None, key: str) -> Action | None:
    """What a full run does to a destination-only object; None: nothing (yet)."""
    action = mapping.on_destination_only
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
    if mapping.on_destination_only == "move":
        return ["move"]
    return ["enable", "move"] if mapping.move_to else ["enable"]


def returned(wanted: Mapping[str, object], lifecycle: Lifecycle | None) -> list[str]:
    """The absent objects back in the source: their absences are to be forgotten."""
    if lifecycle is None:
        return []
    return sorted(key for key in lifecycle.absent_since if key in wanted)
