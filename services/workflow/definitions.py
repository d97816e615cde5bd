"""Applying jobs and connections, and deleting jobs: commands the workflow carries out.

People may only read the buckets (services/common/access.py), so `idsync job apply`
sends the job here. The workflow checks it as `idsync` did, and enforces ownership
(core/checks/ownership.py): a job or a connection that lists owners is changed by them alone, a
connection owned jobs use is not changed behind their owners' backs, and an owned job
uses only owned connections — otherwise anyone could take a job's approval away, or
repoint an approved job at another place.
"""

from __future__ import annotations

import msgspec

from core.checks.approval import approval_problems
from core.checks.job import check_job
from core.checks.ownership import (
    connection_change_problem,
    job_change_problem,
    unowned_connection_problems,
)
from core.errors import BadInput
from schemas.commands import CommandReply, job_delete_decoder
from schemas.connections import Connection
from schemas.jobs import Job
from services.common.approvals import waiting
from services.common.bus import Bus
from services.common.ending import cancel_job_runs
from services.common.hooks import hooks_problem
from services.common.jetstream import ensure_site
from services.common.logging import get_logger
from services.common.purging import forget_history, forget_schedules, forget_state
from services.providers import FACTS

from .approvals import cancel_waiting

log = get_logger("idsync.workflow")
_job_decoder = msgspec.json.Decoder(Job)
_connections_decoder = msgspec.json.Decoder(list[Connection])


async def apply_job(bus: Bus, principal: str, body: bytes) -> CommandReply:
    try:
        job = _job_decoder.decode(body)
    except (msgspec.DecodeError, msgspec.ValidationError) as error:
        return CommandReply(ok=False, error=f"not a job: {error}")
    stored = await bus.store.find_job(job.id)
    if (problem := job_change_problem(principal, stored, "change")) is not None:
        return CommandReply(ok=False, error=problem, denied=True)
    connections = {c.id: c for c in await bus.store.connections()}
    try:
        check_job(job, connections, FACTS, hooks_problem=hooks_problem(job))
    except BadInput as error:
        return CommandReply(ok=False, error=str(error))
    if problems := approval_problems(job) + unowned_connection_problems(job, connections):
        return CommandReply(ok=False, error="\n".join(f'job "{job.id}": {p}' for p in problems))
    await bus.store.put_job(job)
    log.info("job applied", job_id=job.id, by=principal)
    return CommandReply(ok=True, note="updated" if stored is not None else "applied")


async def delete_job(bus: Bus, principal: str, body: bytes) -> CommandReply:
    try:
        command = job_delete_decoder.decode(body)
    except (msgspec.DecodeError, msgspec.ValidationError) as error:
        return CommandReply(ok=False, error=f"not a job-delete command: {error}")
    stored = await bus.store.find_job(command.job_id)
    if stored is None:
        return CommandReply(
            ok=False, error=f"no job {command.job_id!r}: `idsync job list` shows the jobs there are"
        )
    if (problem := job_change_problem(principal, stored, "delete")) is not None:
        return CommandReply(ok=False, error=problem, denied=True)
    await bus.store.delete_job(command.job_id)
    await forget_schedules(bus.broker.connection, command.job_id)
    await forget_state(bus.broker.connection, command.job_id)
    await _end_waits(bus, command.job_id, principal)
    await cancel_job_runs(bus, command.job_id, principal)  # its claim's: the job starts free
    if command.forget_history:
        runs = await forget_history(bus.broker.connection, command.job_id, principal)
        log.info("job deleted with its history", job_id=command.job_id, runs=runs, by=principal)
        return CommandReply(ok=True, note=f"deleted with the history of {runs} runs")
    log.info("job deleted", job_id=command.job_id, by=principal)
    return CommandReply(ok=True, note="deleted")


async def _end_waits(bus: Bus, job_id: str, principal: str) -> None:
    """The job's runs waiting for approval are cancelled: nobody is left to approve them
    (a deleted job names no approvers), and they would be listed until they expired."""
    for entry in await waiting(bus.js):
        if entry.job_id != job_id:
            continue
        reason = f"job {job_id} was deleted by {principal} while the run waited for approval"
        if await cancel_waiting(bus, entry.run_id, job_id, principal, reason):
            log.info("run cancelled: its job was deleted", run_id=entry.run_id, job_id=job_id)


async def apply_connections(bus: Bus, principal: str, body: bytes) -> CommandReply:
    try:
        connections = _connections_decoder.decode(body)
    except (msgspec.DecodeError, msgspec.ValidationError) as error:
        return CommandReply(ok=False, error=f"not a list of connections: {error}")
    stored = {c.id: c for c in await bus.store.connections()}
    jobs = await bus.store.jobs()
    problems = [
        problem
        for c in connections
        if (problem := connection_change_problem(principal, c.id, stored.get(c.id), jobs))
    ]
    if problems:  # all or none: nothing is applied half-way
        return CommandReply(ok=False, error="\n".join(problems))
    for connection in connections:
        await bus.store.put_connection(connection)
    for site in sorted({c.site for c in connections} - {""}):  # its runners' queues
        await ensure_site(bus.js, bus.settings, site)
    log.info("connections applied", ids=[c.id for c in connections], by=principal)
    return CommandReply(ok=True, note=f"{len(connections)} applied")
