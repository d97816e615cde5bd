"""Roles enforced on every command, before the command's own handler runs: which
permission each verb needs (core/roles.py), and whether a job keeps to its owners'
policies (core/checks/policy.py) when applied or run.

Identity is the principal of the subject (the server lets each person publish under
their own only), never a payload. A command this cannot decode goes on to its handler,
which says what is wrong with it.
"""

from __future__ import annotations

import msgspec

from core.roles import job_action, permissions_of
from schemas.collections import Collection
from schemas.commands import (
    collection_command_decoder,
    decide_command_decoder,
    job_delete_decoder,
    run_command_decoder,
)
from schemas.jobs import Job
from services.common.bus import Bus
from services.common.roles import Authority

from .authority import authority

_job = msgspec.json.Decoder(Job)
_collection = msgspec.json.Decoder(Collection)
_SIMPLE = {
    "connection-apply": "connection-apply",
    "deadletter": "deadletter",
    "preview": "preview",
    "template-apply": "job-create",
    "template-delete": "job-create",
    "role-apply": "manage-roles",
    "role-remove": "manage-roles",
    "grant": "manage-roles",
    "revoke": "manage-roles",
}
"""Verbs whose permission does not depend on a job."""


async def refusal(bus: Bus, verb: str, principal: str, body: bytes) -> str | None:
    """Why `principal` may not send this command; None when they may."""
    if verb in ("whoami", "refusals", "history"):
        return None
    known = await authority(bus)
    if not known.in_force:
        return None
    if verb in _SIMPLE:
        return known.refusal(_SIMPLE[verb], principal)
    try:
        return await _about_jobs(bus, known, verb, principal, body)
    except (msgspec.DecodeError, msgspec.ValidationError):
        return None  # the handler says what is wrong with the command


async def _about_jobs(
    bus: Bus, known: Authority, verb: str, principal: str, body: bytes
) -> str | None:
    if verb == "job-apply":
        job = _job.decode(body)
        stored = await bus.store.find_job(job.id)
        action = job_action(
            principal, stored.owners if stored else [], stored is not None, "job-edit-any"
        )
        if refused := known.refusal(action, principal):
            return refused
        if "jobs.edit-any" not in _permissions(known, principal) and not _lists(job, principal):
            return (
                f'job "{job.id}": $.owners: list yourself among the owners ({principal}), or '
                "only someone who may edit any job could change it afterwards"
            )
        problems = known.job_problems(job, [principal, *job.owners])
        return _refused(job.id, "applied", problems)
    if verb == "job-delete":
        stored = await bus.store.find_job(job_delete_decoder.decode(body).job_id)
        if stored is None:
            return None
        return known.refusal(job_action(principal, stored.owners, True, "job-edit-any"), principal)
    if verb == "run":
        found = await bus.store.find_job(run_command_decoder.decode(body).job_id)
        if found is None:
            return None
        if refused := known.refusal(
            job_action(principal, found.owners, True, "run-any"), principal
        ):
            return refused
        return _refused(found.id, "run", known.job_problems(found, found.owners))
    if verb in ("approve", "deny", "cancel"):
        state = await bus.runs.get(decide_command_decoder.decode(body).run_id)
        if state is None:
            return None  # the handler says there is no such run
        if verb == "approve":
            # Confirming even one's own plan over the safety limits: a role's ceiling on
            # those limits would mean nothing otherwise.
            return known.refusal("approve", principal)
        if state.requested_by.casefold() == principal.casefold():
            return None  # a requester may withdraw their request, or cancel their run
        ran = await bus.store.find_job(state.job_id)
        owners = ran.owners if ran is not None else []
        return known.refusal(job_action(principal, owners, True, "run-any"), principal)
    if verb in ("collection-apply", "collection-delete"):
        if verb == "collection-apply":
            collection_id = _collection.decode(body).id
        else:
            collection_id = collection_command_decoder.decode(body).collection_id
        stored_collection = await bus.store.find_collection(collection_id)
        owners = stored_collection.owners if stored_collection else []
        action = job_action(principal, owners, stored_collection is not None, "job-edit-any")
        return known.refusal(action, principal)
    if verb == "collection-run":
        collection_id = collection_command_decoder.decode(body).collection_id
        stored_collection = await bus.store.find_collection(collection_id)
        owners = stored_collection.owners if stored_collection else []
        return known.refusal(job_action(principal, owners, True, "run-any"), principal)
    if verb == "collection-cancel":
        return known.refusal("run-any", principal)
    return None


def _permissions(known: Authority, principal: str) -> set[str]:
    return set(permissions_of(known.held(principal), known.entries))


def _lists(job: Job, principal: str) -> bool:
    return any(owner.casefold() == principal.casefold() for owner in job.owners)


def _refused(job_id: str, when: str, problems: list[str]) -> str | None:
    if not problems:
        return None
    lines = "\n".join(f'job "{job_id}": {p}' for p in problems)
    return f"job {job_id} may not be {when}: it breaks a role's policy\n{lines}"


async def run_refusal(bus: Bus, job: Job) -> str | None:
    """Why a run of the job may not start whoever asked (a schedule, a collection, another
    system): it breaks its owners' policies."""
    known = await authority(bus)
    return _refused(job.id, "run", known.job_problems(job, job.owners))
