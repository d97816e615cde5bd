"""Event ids, built by these functions only — never by hand.

An event's id is its `Nats-Msg-Id`: publishing the same fact twice (a retry, a runner
that died and came back, two schedulers) gives the same id, and the stream stores it
once. So every event that happens once per run, plan, batch or attempt has an id made
of what makes it that one: the run, the plan's hash (its first 16 characters), the
batch's number, the attempt. Work batches on the work queue are deduplicated the same
way (`work_id`).
"""

from __future__ import annotations

from datetime import datetime

HASH_CHARS = 16
"""The characters of a plan's hash an id keeps: enough to tell a run's plans apart."""


def _plan(plan_hash: str) -> str:
    return plan_hash[:HASH_CHARS]


# What asks for a run and decides on it: once per run (or per plan approved).


def requested_id(run_id: str) -> str:
    return f"{run_id}.requested"


def approved_id(run_id: str, plan_hash: str | None = None) -> str:
    """A request approved (once per run), or a plan over the limits approved (per plan)."""
    return f"{run_id}.approved.{_plan(plan_hash)}" if plan_hash else f"{run_id}.approved"


def awaiting_id(run_id: str, plan_hash: str | None = None) -> str:
    """A request waiting for approval (once), or a plan over the limits waiting (per plan)."""
    return f"{run_id}.awaiting.{_plan(plan_hash)}" if plan_hash else f"{run_id}.awaiting"


def queued_id(run_id: str) -> str:
    """A request held back behind its job's run going on (once per run)."""
    return f"{run_id}.queued"


def denied_id(run_id: str) -> str:
    return f"{run_id}.denied"


def expired_id(run_id: str) -> str:
    return f"{run_id}.expired"


# Planning: once per delivery of an approval, once per plan.


def started_id(approval_id: str, attempt: int) -> str:
    """A runner starting on the approval `approval_id` (its event id), delivery `attempt`."""
    return f"{approval_id}.started.{attempt}"


def planned_id(run_id: str, plan_hash: str) -> str:
    return f"{run_id}.planned.{_plan(plan_hash)}"


def planning_failed_id(approval_id: str, copy: int, attempt: int) -> str:
    """A failed attempt at planning: the approval's id, its copy in the stream (a retried
    dead letter is a new copy) and the attempt."""
    return f"{approval_id}.failed.{copy}.{attempt}"


def site_wait_id(approval_id: str) -> str:
    """An approval handed to a site's runners (schemas/events.RunWaitingForSite)."""
    return f"{approval_id}.site"


def planning_dead_id(approval_id: str) -> str:
    return f"{approval_id}.dead"


def record_errors_id(run_id: str, plan_hash: str, batch: int | None, part: int) -> str:
    """A part of the record errors of a plan (`batch` None) or of one of its batches."""
    of = f"{_plan(plan_hash)}.batch.{batch}" if batch is not None else _plan(plan_hash)
    return f"{run_id}.{of}.errors.{part}"


# Batches: once per batch of a plan (per attempt for a failed one).


def work_id(run_id: str, plan_hash: str, number: int) -> str:
    """A batch on the work queue: republishing a batch of the same plan is stored once."""
    return f"{run_id}.{_plan(plan_hash)}.{number}"


def batch_applied_id(run_id: str, plan_hash: str, number: int) -> str:
    return f"{run_id}.{_plan(plan_hash)}.batch.{number}"


def batch_failed_id(run_id: str, plan_hash: str, number: int, copy: int, attempt: int) -> str:
    """A failed attempt at a batch: its copy in the work queue and the attempt."""
    return f"{run_id}.{_plan(plan_hash)}.failed.{number}.{copy}.{attempt}"


def batch_dead_id(run_id: str, plan_hash: str, number: int) -> str:
    return f"{run_id}.{_plan(plan_hash)}.dead.{number}"


def batch_dropped_id(run_id: str, plan_hash: str, number: int) -> str:
    return f"{run_id}.{_plan(plan_hash)}.dropped.{number}"


def passwords_sealed_id(run_id: str, plan_hash: str, number: int) -> str:
    return f"{run_id}.passwords.{_plan(plan_hash)}.{number}"


# Ends: once per run.


def finished_id(run_id: str) -> str:
    return f"{run_id}.finished"


def failed_id(run_id: str) -> str:
    return f"{run_id}.failed"


def cancelled_id(run_id: str) -> str:
    return f"{run_id}.cancelled"


# The scheduler: once per fire time (the run id derives from it).


def skipped_id(run_id: str) -> str:
    """A fire skipped because a run of the job had not ended."""
    return f"{run_id}.skipped"


def missed_id(run_id: str) -> str:
    """The fires missed before the fire that runs `run_id`."""
    return f"{run_id}.missed"


# Collections: once per collection run, per step.


def collection_requested_id(run_id: str) -> str:
    return f"{run_id}.collection.requested"


def step_started_id(run_id: str, step: int) -> str:
    return f"{run_id}.step.{step}.started"


def step_ended_id(run_id: str, step: int) -> str:
    return f"{run_id}.step.{step}.ended"


def collection_ended_id(run_id: str) -> str:
    return f"{run_id}.collection.ended"


# About other events.


def notify_failed_id(event_id: str, part: str) -> str:
    """The mails about the event `event_id` that did not go (`part`: which mail)."""
    return f"{event_id}.notify-failed.{part}"


def retried_id(original_id: str, letter: int) -> str:
    """A dead letter's message published again: the original's id and the letter's number."""
    return f"{original_id}.retry.{letter}"


# Roles: once per change (the time it was made names it).


def role_changed_id(role_id: str, at: datetime) -> str:
    return f"role.{role_id}.{at.strftime('%Y%m%dT%H%M%S%fZ')}"
