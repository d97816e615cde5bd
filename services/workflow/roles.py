"""Role commands the workflow carries out: define and remove roles, grant and revoke
them, and answer `whoami` and the jobs roles' policies refuse now.

Every change is kept in the roles bucket with who made it and when, and published as
`role.changed` in the journal (`idsync role history` reads it back).
"""

from __future__ import annotations

import msgspec

from core import roles as rules
from schemas.commands import CommandReply, encode
from schemas.connections import LdapConnection
from schemas.event_ids import role_changed_id
from schemas.events import RoleChanged
from schemas.ids import utcnow
from schemas.roles import (
    DIRECTORY,
    GROUP,
    Refusal,
    Refusals,
    RoleEntry,
    WhoAmI,
    grant_decoder,
    role_decoder,
    role_remove_decoder,
)
from services.common import roles as stored_roles
from services.common.bus import Bus
from services.common.logging import get_logger

from .authority import authority, forget_members

log = get_logger("idsync.workflow")


async def _record(bus: Bus, role_id: str, change: str, principal: str, **what: object) -> None:
    at = utcnow()
    event = RoleChanged(
        run_id="",
        job_id=role_id,
        id=role_changed_id(role_id, at),
        at=at,
        change=change,
        by=principal,
        **what,  # type: ignore[arg-type]
    )
    await bus.publish(event)


async def apply_role(bus: Bus, principal: str, body: bytes) -> CommandReply:
    try:
        role = role_decoder.decode(body)
    except (msgspec.DecodeError, msgspec.ValidationError) as error:
        return CommandReply(ok=False, error=f"not a role: {error}")
    if (problem := rules.role_problem(role)) is not None:
        return CommandReply(ok=False, error=problem)
    entries = await stored_roles.entries(bus.js)
    before = entries.get(role.id)
    entry = RoleEntry(
        role=role,
        grantees=before.grantees if before else [],
        changed_by=principal,
        changed_at=utcnow(),
    )
    await stored_roles.put(bus.js, role.id, entry)
    await _record(bus, role.id, "defined", principal, definition=role)
    log.info("role applied", role=role.id, by=principal)
    existed = (before is not None and before.role is not None) or role.id in rules.BUILTIN
    return CommandReply(ok=True, note="updated" if existed else "applied")


async def remove_role(bus: Bus, principal: str, body: bytes) -> CommandReply:
    try:
        command = role_remove_decoder.decode(body)
    except (msgspec.DecodeError, msgspec.ValidationError) as error:
        return CommandReply(ok=False, error=f"not a role-remove command: {error}")
    entries = await stored_roles.entries(bus.js)
    role_id = command.role_id
    if rules.definition(role_id, entries) is None:
        return CommandReply(ok=False, error=f"no role {role_id!r}: `idsync role list` shows them")
    if role_id == rules.ADMINISTRATOR:
        return CommandReply(ok=False, error="role administrator ships with idsync: it stays")
    before = entries.get(role_id)
    if role_id in rules.BUILTIN:
        if before is None or before.role is None:
            return CommandReply(ok=True, note="ships with idsync: nothing to restore")
        restored = msgspec.structs.replace(
            before, role=None, changed_by=principal, changed_at=utcnow()
        )
        await stored_roles.put(bus.js, role_id, restored)
        await _record(bus, role_id, "restored", principal)
        return CommandReply(ok=True, note="restored as it ships; its grants stay")
    await stored_roles.delete(bus.js, role_id)
    await _record(bus, role_id, "removed", principal)
    log.info("role removed", role=role_id, by=principal)
    held = len(before.grantees) if before else 0
    return CommandReply(ok=True, note=f"removed (it was granted to {held})")


def _grantee_problem(grantee: str, known_people: set[str], groups: set[str]) -> str | None:
    if grantee.startswith(DIRECTORY):
        connection, _, group = grantee.removeprefix(DIRECTORY).partition(":")
        if not connection or not group:
            return f"{grantee!r}: write directory:CONNECTION:GROUP (a DN or a group's cn)"
        return None
    if grantee.startswith(GROUP):
        return (
            None
            if grantee.removeprefix(GROUP) in groups
            else (
                f"no group {grantee.removeprefix(GROUP)!r}: `idsync user add NAME --group` puts "
                "people in one (`idsync user list` shows them)"
            )
        )
    if grantee not in known_people:
        return f"no user {grantee!r}: `idsync user list` shows them"
    return None


async def grant(bus: Bus, principal: str, body: bytes, granting: bool = True) -> CommandReply:
    verb = "grant" if granting else "revoke"
    try:
        command = grant_decoder.decode(body)
    except (msgspec.DecodeError, msgspec.ValidationError) as error:
        return CommandReply(ok=False, error=f"not a {verb} command: {error}")
    known = await authority(bus)
    if granting and command.grantee.startswith(DIRECTORY):
        connection_id = command.grantee.removeprefix(DIRECTORY).partition(":")[0]
        found = {c.id: c for c in await bus.store.connections()}.get(connection_id)
        if not isinstance(found, LdapConnection):
            return CommandReply(
                ok=False,
                error=f"{command.grantee!r}: no directory connection {connection_id!r} (an ldap "
                "or ad connection: `idsync connection list` shows them)",
            )
    if granting:
        people = set(known.users.people)
        groups = {g for person in known.users.people.values() for g in person.groups}
        if people and (problem := _grantee_problem(command.grantee, people, groups)):
            return CommandReply(ok=False, error=problem)
    problem = rules.grant_problem(command.role_id, command.grantee, known.entries, granting)
    if problem is not None:
        return CommandReply(ok=False, error=problem)
    before = known.entries.get(command.role_id)
    grantees = rules.with_grant(before, command.grantee, granting)
    entry = RoleEntry(
        role=before.role if before else None,
        grantees=grantees,
        changed_by=principal,
        changed_at=utcnow(),
    )
    await stored_roles.put(bus.js, command.role_id, entry)
    forget_members()
    await _record(
        bus,
        command.role_id,
        "granted" if granting else "revoked",
        principal,
        grantee=command.grantee,
    )
    log.info(f"role {verb}ed", role=command.role_id, grantee=command.grantee, by=principal)
    done = "granted to" if granting else "revoked from"
    return CommandReply(ok=True, note=f"role {command.role_id} {done} {command.grantee}")


async def revoke(bus: Bus, principal: str, body: bytes) -> CommandReply:
    return await grant(bus, principal, body, granting=False)


async def whoami(bus: Bus, principal: str, body: bytes) -> CommandReply:
    known = await authority(bus)
    held = known.held(principal)
    policies = {}
    for one in held:
        role = rules.definition(one.role, known.entries)
        if role is not None and role.policy is not None:
            policies[role.id] = role.policy
    answer = WhoAmI(
        principal=principal,
        in_force=known.in_force,
        roles=held,
        permissions=sorted(rules.permissions_of(held, known.entries)),
        policies=policies,
    )
    return CommandReply(ok=True, note=encode(answer).decode())


async def refusals(bus: Bus, principal: str, body: bytes) -> CommandReply:
    """Every job that its owners' policies refuse now, with the rules it breaks."""
    known = await authority(bus)
    found = [
        Refusal(job_id=job.id, reason="\n".join(problems))
        for job in sorted(await bus.store.jobs(), key=lambda j: j.id)
        if (problems := known.job_problems(job, job.owners))
    ]
    return CommandReply(ok=True, note=encode(Refusals(jobs=found)).decode())


async def may_preview(bus: Bus, principal: str, body: bytes) -> CommandReply:
    """Asked by `idsync job preview` before it reads anything: the guard has answered."""
    return CommandReply(ok=True, note="may preview")
