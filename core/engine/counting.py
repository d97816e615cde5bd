"""How a plan counts its objects' changes, in a job of one type or of several alike.

The run's statistics count each object once (runner/outcomes.py `counts_as`: the first
of `COUNTS_AS` it has). The plan counts each change of an object's own — a
references-phase follow-up counts with its object's change — but for an update beside
another change of the same object (restored, or moved to its record's container, and
updated): it counts as that change, as the run counts it. A restore that enables and
moves back counts as both: the safety limits count every move (engine/safety.py)."""

from __future__ import annotations

from collections.abc import Collection, Iterable

from schemas.plan import Action, Change, PlanCounts

COUNTS_AS: tuple[Action, ...] = ("create", "enable", "move", "update", "disable", "delete")


def counts_as(actions: Collection[Action]) -> Action:
    """What an object with these changes of its own counts as in the run's statistics."""
    return next(action for action in COUNTS_AS if action in actions)


def counted(own: Collection[Action]) -> Iterable[Action]:
    """The actions the plan counts of one object's changes `own`."""
    if len(own) < 2 or "update" not in own:
        return own
    return [action for action in own if action != "update"]


def count_once(counts: PlanCounts, own: Collection[Action]) -> None:
    """Take back from `counts`, which counted each of one object's changes `own`, those
    the plan does not count (`counted`)."""
    if len(own) > 1 and "update" in own:
        counts.update -= sum(action == "update" for action in own)


def count_changes(counts: PlanCounts, changes: Iterable[Change]) -> None:
    """Add to `counts` the changes `changes` make, as the plan counts them."""
    own: dict[tuple[str, str], list[Action]] = {}
    for change in changes:
        if not change.follow_up:
            own.setdefault((change.object_type, change.key), []).append(change.action)
    for actions in own.values():
        for action in counted(actions):
            setattr(counts, action, getattr(counts, action) + 1)
