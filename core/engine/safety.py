"""Safety limits: whether a plan may run, or must wait for someone to approve it.

A plan may make at most `limit(...)` deletes, and as many disables and as many moves
(each counted alone): the job's `max_count`, and at most `max_percent` percent of the
objects the destination holds (rounded down), whichever is smaller. With 1,000 objects
and 5%, 50 deletes run and 51 wait. Below that share, `min_count` (3) are always allowed,
though never more than half of the destination's objects (nor more than `max_count`):
10% of 8 objects is 0, yet one of them, two or three may go without approval; of 2
objects, one; of 1, none.

A source that comes back empty while the destination is not also waits (unless the job
says `empty_source = "allow"`): an empty export would otherwise delete everyone. Only
a run over the job's whole scope is judged so; a run scoped to some keys reads only
those, and never acts on absence.

A job of several object types is judged a type at a time, each as a job of that type
alone would be (`assess_types`): its own deletes against its own objects, its own source
coming back empty. Weighed together, the 100 groups of a job that also holds 10,000
users could all be deleted within 5% of the whole, and an empty export of groups would
pass as no empty source while the users' had records.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from decimal import Decimal

from schemas.jobs import Safety
from schemas.plan import Change, PlanCounts

from .plan import Plan

# The actions that act on absence, in the words a reason uses.
_LIMITED = (("delete", "deletes"), ("disable", "disables"), ("move", "moves"))


def limit(safety: Safety, destination_records: int) -> int:
    """The most deletes (or disables, or moves) a plan may make without approval."""
    allowed = max(_share(safety, destination_records), _floor(safety, destination_records))
    return max(0, min(safety.max_count, allowed))


def _share(safety: Safety, destination_records: int) -> int:
    """`max_percent` of the destination's objects, rounded down."""
    # Decimal of the written number: 5% of 1,000 is exactly 50, never 49.99999.
    return math.floor(Decimal(repr(safety.max_percent)) * destination_records / 100)


def _floor(safety: Safety, destination_records: int) -> int:
    """What is always allowed: `min_count`, but never more than half of the objects."""
    return min(safety.min_count, destination_records // 2)


def assess(
    counts: PlanCounts,
    source_records: int,
    destination_records: int,
    safety: Safety,
    *,
    full_scope: bool,
) -> str | None:
    """Why this plan must wait for approval, or None when it may run now.

    `source_records` and `destination_records` are what each side held when read (the
    whole scope, before any key scoping). Several reasons are joined with "; ".
    """
    reasons: list[str] = []
    empty = full_scope and source_records == 0 and destination_records > 0
    if empty and safety.empty_source != "allow":
        reasons.append(
            f"the source returned no records while the destination holds "
            f"{_objects(destination_records)}"
        )
    allowed = limit(safety, destination_records)
    for action, plural in _LIMITED:
        planned: int = getattr(counts, action)
        if planned > allowed:
            word = action if planned == 1 else plural
            verb = "exceeds" if planned == 1 else "exceed"
            why = _why(safety, allowed, destination_records)
            reasons.append(f"{planned:,} {word} {verb} the limit of {allowed:,} ({why})")
    return "; ".join(reasons) or None


@dataclass(frozen=True)
class TypeRecords:
    """One object type's records on each side, as read for a plan."""

    object_type: str
    source_records: int
    destination_records: int


def assess_types(
    plan: Plan, types: Sequence[TypeRecords], safety: Safety, *, full_scope: bool
) -> str | None:
    """Why this plan must wait for approval, or None: each object type judged alone, as
    `assess` judges a job of that type (its reasons named by the type when there are
    several)."""
    if len(types) == 1:
        only = types[0]
        return assess(
            plan.counts,
            only.source_records,
            only.destination_records,
            safety,
            full_scope=full_scope,
        )
    reasons = []
    for each in types:
        counts = _limited(plan.changes, each.object_type)
        reason = assess(
            counts, each.source_records, each.destination_records, safety, full_scope=full_scope
        )
        if reason is not None:
            reasons.append(f"{each.object_type}: {reason}")
    return "; ".join(reasons) or None


def _limited(changes: Sequence[Change], object_type: str) -> PlanCounts:
    """The deletes, disables and moves the changes make of one type's objects (counted as
    the plan counts them: a follow-up is not another)."""
    counts = PlanCounts()
    for change in changes:
        limited = change.action in ("delete", "disable", "move")
        if limited and change.object_type == object_type and not change.follow_up:
            setattr(counts, change.action, getattr(counts, change.action) + 1)
    return counts


def _why(safety: Safety, allowed: int, destination_records: int) -> str:
    if allowed == safety.max_count:
        return "the job's safety.max_count"
    if allowed == _share(safety, destination_records) or allowed <= 0:
        return f"{safety.max_percent:g}% of {_objects(destination_records)}"
    if allowed == safety.min_count:
        return "the job's safety.min_count"
    return f"safety.min_count, at most half of {_objects(destination_records)}"


def _objects(count: int) -> str:
    return f"{count:,} object" if count == 1 else f"{count:,} objects"
