"""Who may change a job or a connection (pure). Until roles exist, owners are the rule:

- a job that lists `owners` is changed or deleted by them alone;
- a connection that lists `owners` is changed by them alone;
- a connection without owners that owned jobs use is changed only by someone who owns
  every one of those jobs — otherwise anyone could repoint an owned job (and its
  approvals) at another place by changing its connection;
- an owned job uses only connections that list owners: its owners trust those
  connections' owners, and nobody else can change where the job reads or writes.

Principals are compared casefolded, as approvers are.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

from schemas.connections import Connection
from schemas.jobs import Job

from .principals import same


def owned_by(principal: str, owners: Iterable[str]) -> bool:
    return any(same(principal, owner) for owner in owners)


def job_change_problem(principal: str, stored: Job | None, verb: str) -> str | None:
    """Why `principal` may not `verb` (change, delete) the stored job; None when they may."""
    if stored is None or not stored.owners or owned_by(principal, stored.owners):
        return None
    return (
        f"job {stored.id} is owned by {', '.join(stored.owners)}: only they may {verb} it "
        "(ask one of them)"
    )


def users_of(connection_id: str, jobs: Iterable[Job]) -> list[Job]:
    """The jobs that read from or write to the connection."""
    return [
        job for job in jobs if connection_id in (job.source.connection, job.destination.connection)
    ]


def connection_change_problem(
    principal: str, connection_id: str, stored: Connection | None, jobs: Iterable[Job]
) -> str | None:
    """Why `principal` may not apply the connection over the stored one; None when they may."""
    if stored is not None and stored.owners:
        if owned_by(principal, stored.owners):
            return None
        return (
            f"connection {connection_id} is owned by {', '.join(stored.owners)}: only they "
            "may change it (ask one of them)"
        )
    guarded = [
        job
        for job in users_of(connection_id, jobs)
        if job.owners and not owned_by(principal, job.owners)
    ]
    if stored is None or not guarded:
        return None
    named = "; ".join(f"job {job.id} (owners: {', '.join(job.owners)})" for job in guarded)
    return (
        f"connection {connection_id} lists no owners and owned jobs use it — {named}: only "
        "someone who owns every job that uses it may change it (ask them; one of them can "
        "give the connection owners)"
    )


def unowned_connection_problems(job: Job, connections: Mapping[str, Connection]) -> list[str]:
    """An owned job's connections that list no owners, as `$.path: problem` lines."""
    if not job.owners:
        return []
    problems: list[str] = []
    for side, endpoint in (("source", job.source), ("destination", job.destination)):
        connection = connections.get(endpoint.connection)
        if connection is None or connection.owners:
            continue  # an unknown connection is check_job's to report
        example = ", ".join(f'"{owner}"' for owner in job.owners)
        problems.append(
            f"$.{side}.connection: connection {connection.id} lists no owners, so anyone "
            f"could change where this owned job {'reads' if side == 'source' else 'writes'}: "
            f"give it owners (owners = [{example}] in its table) and apply it first"
        )
    return problems
