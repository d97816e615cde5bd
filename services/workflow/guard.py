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


_OPEN = ("whoami", "refusals", "history")
"""Verbs anyone may send (the recorder decides history questions itself)."""


async def refusal(bus: Bus, verb: str, principal: str, body: bytes) -> str | None:
    """Why `principal` may not send this command; None when they may. A verb no rule
    here names is refused while roles are in force: a new command needs its rule."""
    if verb in _OPEN:
        return None
    known = await authority(bus)
    if not known.in_force:
        return None
    if verb in _SIMPLE:
        return known.refusal(_SIMPLE[verb], principal)
    try:
        match verb:
            case "job-apply":
                return await _job_apply(bus, known, principal, _job.decode(body))
            case "job-delete":
                job_id = job_delete_decoder.decode(body).job_id
                return await _about_job(bus, known, principal, job_id, "job-edit-any")
            case "run":
                job_id = run_command_decoder.decode(body).job_id
                return await _about_job(bus, known, principal, job_id, "run-any")
            case "approve" | "deny" | "cancel":
                run_id = decide_command_decoder.decode(body).run_id
                return await _decision(bus, known, principal, verb, run_id)
            case "collection-apply":
                collection_id = _collection.decode(body).id
                return await _about_collection(bus, known, principal, collection_id, "job-edit-any")
            case "collection-delete":
                collection_id = collection_command_decoder.decode(body).collection_id
                return await _about_collection(bus, known, principal, collection_id, "job-edit-any")
            case "collection-run":
                collection_id = collection_command_decoder.decode(body).collection_id
                return await _about_collection(bus, known, principal, collection_id, "run-any")
            case "collection-cancel":
                return known.refusal("run-any", principal)
    except (msgspec.DecodeError, msgspec.ValidationError):
        return None  # the handler says what is wrong with the command
    return f"{principal} may not send {verb} commands: no rule says who may"


async def _job_apply(bus: Bus, known: Authority, principal: str, job: Job) -> str | None:
    stored = await bus.store.find_job(job.id)
    owners = stored.owners if stored else []
    action = job_action(principal, owners, stored is not None, "job-edit-any")
    if refused := known.refusal(action, principal):
        return refused
    if "jobs.edit-any" not in _permissions(known, principal) and not _lists(job, principal):
        return (
            f'job "{job.id}": $.owners: list yourself among the owners ({principal}), or '
            "only someone who may edit any job could change it afterwards"
        )
    return _refused(job.id, "applied", known.job_problems(job, [principal, *job.owners]))


async def _about_job(
    bus: Bus, known: Authority, principal: str, job_id: str, any_action: str
) -> str | None:
    """Changing, deleting or running a stored job (its owners' "own", or "any")."""
    job = await bus.store.find_job(job_id)
    if job is None:
        return None  # the handler says there is no such job
    if refused := known.refusal(job_action(principal, job.owners, True, any_action), principal):
        return refused
    if any_action == "run-any":
        return _refused(job.id, "run", known.job_problems(job, job.owners))
    return None


async def _decision(
    bus: Bus, known: Authority, principal: str, verb: str, run_id: str
) -> str | None:
    """Approving needs runs.approve — even one's own plan over the safety limits, or a
    role's ceiling on those limits would mean nothing; the requester may always withdraw
    (deny) their request or cancel their run; others deny as approvers and cancel as
    those who may run the job."""
    state = await bus.runs.get(run_id)
    if state is None:
        return None  # the handler says there is no such run
    if verb == "approve":
        return known.refusal("approve", principal)
    if state.requested_by.casefold() == principal.casefold():
        return None
    if verb == "deny":
        return known.refusal("approve", principal)
    job = await bus.store.find_job(state.job_id)
    owners = job.owners if job is not None else []
    return known.refusal(job_action(principal, owners, True, "run-any"), principal)


async def _about_collection(
    bus: Bus, known: Authority, principal: str, collection_id: str, any_action: str
) -> str | None:
    stored = await bus.store.find_collection(collection_id)
    owners = stored.owners if stored else []
    exists = stored is not None or any_action == "run-any"
    return known.refusal(job_action(principal, owners, exists, any_action), principal)


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
