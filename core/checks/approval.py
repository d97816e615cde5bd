"""What a job's approval section must say: who approves, who owns the job, how long a
request waits."""

from __future__ import annotations

from core.errors import BadInput
from schemas.jobs import Job

from .intervals import parse_interval


def approval_problems(job: Job) -> list[str]:
    """What is wrong with a job's approval section, as `$.path: problem` lines."""
    if job.approval is None:
        return []
    problems: list[str] = []
    if not job.approval.approvers:
        problems.append('$.approval.approvers: expected at least one principal or "group:NAME"')
    if not job.owners:
        problems.append(
            "$.owners: a job whose runs need approval names its owners, who alone may change "
            'it (otherwise anyone could remove the approval): e.g. owners = ["ada"]'
        )
    try:
        parse_interval(job.approval.expire_after)
    except BadInput as error:
        problems.append(f"$.approval.expire_after: {error}")
    return problems
