"""Who must approve which run requests, and who may decide (pure).

A job's `approval` section names the kinds of request that wait (manual by default)
and the approvers: principals, or `group:NAME` for every person in that group
(`idsync user add --group`). Principals are compared casefolded, so "Ada" asking and
"ada" approving is one person approving their own request — refused.

A job without an approval section keeps the rule for plans over its safety limits:
anyone may approve them, the requester too (it confirms a large change, it does not
grant anything).
"""

from __future__ import annotations

from core.checks.intervals import parse_interval
from core.checks.principals import same
from schemas.jobs import Job
from services.common.users import Users

GROUP = "group:"


def needs_approval(job: Job, trigger: str) -> bool:
    return job.approval is not None and trigger in job.approval.required_for


def approvers(job: Job | None, users: Users) -> list[str]:
    """The principals who may approve the job's runs; empty when anyone may."""
    if job is None or job.approval is None:
        return []
    found: list[str] = []
    for name in job.approval.approvers:
        members = users.members(name.removeprefix(GROUP)) if name.startswith(GROUP) else [name]
        found += [m for m in members if not any(same(m, f) for f in found)]
    return found


def approvers_of(job: Job | None, users: Users, requester: str) -> list[str]:
    """The principals who may approve a run `requester` asked for: the job's approvers
    but the requester, who never approves their own request."""
    return [name for name in approvers(job, users) if not same(name, requester)]


def refusal(verb: str, principal: str, requester: str, job: Job | None, users: Users) -> str | None:
    """Why `principal` may not approve or deny this run; None when they may.

    Approving: an approver of the job, never the requester. Denying: an approver, or the
    requester withdrawing their own request."""
    if job is None or job.approval is None:
        return None
    allowed = approvers(job, users)
    is_requester = same(principal, requester)
    if verb == "deny" and is_requester:
        return None
    if verb == "approve" and is_requester:
        others = approvers_of(job, users, requester)
        if not others:
            return (
                f"{principal} asked for this run and cannot approve it, and job {job.id} "
                "has no other approver: add one to its approval.approvers (the run waits "
                f"until it expires), or withdraw it with `idsync run deny`"
            )
        return (
            f"{principal} asked for this run and cannot approve it: one of the job's "
            f"other approvers ({', '.join(others)}) must"
        )
    if not any(same(principal, a) for a in allowed):
        listed = ", ".join(job.approval.approvers)
        return (
            f"{principal} is not an approver of job {job.id} (approvers: {listed}); "
            "ask one of them, or change the job's [approval] approvers"
        )
    return None


def expiry_seconds(job: Job | None, default: float) -> float:
    """How long a request of this job waits for an answer."""
    if job is None or job.approval is None:
        return default
    return parse_interval(job.approval.expire_after)
