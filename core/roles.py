"""Roles: who holds which, and what each command needs (pure).

Roles are in force once any role is granted to anyone; until then everyone may do
everything, as before roles existed (job and connection owners, and a job's approvers,
still decide theirs: core/checks/ownership.py, services/workflow/gate.py). The first
grant must be of `administrator`, and the last administrator cannot be revoked, so a
server is never left without someone who may manage roles.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

from schemas.ids import is_slug
from schemas.roles import (
    DIRECTORY,
    GROUP,
    PERMISSIONS,
    HeldRole,
    Permission,
    Role,
    RoleEntry,
)

from .checks.principals import same

ADMINISTRATOR = "administrator"
BUILTIN: dict[str, Role] = {
    role.id: role
    for role in (
        Role(
            id=ADMINISTRATOR,
            description="everything: connections, every job, approvals, history, users and roles",
            permissions=list(PERMISSIONS),
        ),
        Role(
            id="job-author",
            description="creates jobs, edits, previews and runs the jobs they own, sees "
            "their history",
            permissions=[
                "jobs.create",
                "jobs.edit-own",
                "jobs.run-own",
                "jobs.preview",
                "history.view-own",
            ],
        ),
        Role(
            id="operator",
            description="runs and previews any job, handles dead letters, sees all history",
            permissions=["jobs.run-any", "jobs.preview", "history.view-all"],
        ),
        Role(
            id="approver",
            description="approves or denies runs that wait (of jobs naming them approvers)",
            permissions=["runs.approve", "history.view-all"],
        ),
        Role(
            id="auditor",
            description="sees every run and its history",
            permissions=["history.view-all"],
        ),
    )
}
JOB_PERMISSIONS: frozenset[Permission] = frozenset(
    {"jobs.create", "jobs.edit-own", "jobs.edit-any", "jobs.run-own", "jobs.run-any"}
)
"""A role with one of these is held to its policy by the jobs its holders own."""


def definition(role_id: str, entries: Mapping[str, RoleEntry]) -> Role | None:
    """The role as it stands: its stored definition, else the built-in one."""
    entry = entries.get(role_id)
    if entry is not None and entry.role is not None:
        return entry.role
    if role_id in BUILTIN:
        return BUILTIN[role_id]
    return None


def all_roles(entries: Mapping[str, RoleEntry]) -> list[Role]:
    ids = sorted({*BUILTIN, *entries})
    return [role for role_id in ids if (role := definition(role_id, entries)) is not None]


def in_force(entries: Mapping[str, RoleEntry]) -> bool:
    return any(entry.grantees for entry in entries.values())


def holds(
    principal: str,
    grantee: str,
    groups: Iterable[str],
    directory_members: Mapping[str, Iterable[str]],
) -> str | None:
    """How `principal` is `grantee` ("direct", the group), or None."""
    if grantee.startswith(GROUP):
        name = grantee.removeprefix(GROUP)
        return grantee if any(same(name, g) for g in groups) else None
    if grantee.startswith(DIRECTORY):
        members = directory_members.get(grantee, ())
        return grantee if any(same(principal, m) for m in members) else None
    return "direct" if same(principal, grantee) else None


def roles_of(
    principal: str,
    entries: Mapping[str, RoleEntry],
    groups: Iterable[str] = (),
    directory_members: Mapping[str, Iterable[str]] | None = None,
) -> list[HeldRole]:
    """The roles `principal` holds and how; every role's permissions (as administrator)
    while roles are not in force."""
    if not in_force(entries):
        return [HeldRole(role=ADMINISTRATOR, via="no roles defined")]
    groups = list(groups)
    found: list[HeldRole] = []
    for role_id, entry in sorted(entries.items()):
        if definition(role_id, entries) is None:
            continue
        for grantee in entry.grantees:
            via = holds(principal, grantee, groups, directory_members or {})
            if via is not None:
                found.append(HeldRole(role=role_id, via=via))
                break
    return found


def permissions_of(held: Iterable[HeldRole], entries: Mapping[str, RoleEntry]) -> set[Permission]:
    found: set[Permission] = set()
    for one in held:
        role = definition(one.role, entries)
        if role is not None:
            found.update(role.permissions)
    return found


# What each command needs. A job's "own" and "any" permissions: the command names both.
NEEDS: dict[str, tuple[Permission, ...]] = {
    "connection-apply": ("connections.manage",),
    "job-create": ("jobs.create",),
    "job-edit-own": ("jobs.edit-own", "jobs.edit-any"),
    "job-edit-any": ("jobs.edit-any",),
    "run-own": ("jobs.run-own", "jobs.run-any"),
    "run-any": ("jobs.run-any",),
    "preview": ("jobs.preview",),
    "approve": ("runs.approve",),
    "deadletter": ("jobs.run-any",),
    "history-own": ("history.view-own", "history.view-all"),
    "history-any": ("history.view-all",),
    "manage-roles": ("users.manage",),
}
_WORDS = {
    "connection-apply": "apply connections",
    "job-create": "create jobs",
    "job-edit-own": "change or delete this job",
    "job-edit-any": "change or delete a job they do not own",
    "run-own": "run this job",
    "run-any": "run a job they do not own",
    "preview": "preview jobs",
    "approve": "approve or deny runs",
    "deadletter": "retry or drop dead letters",
    "history-own": "see this job's runs and history",
    "history-any": "see the runs and history of a job they do not own",
    "manage-roles": "manage users and roles",
}


def refusal(
    action: str, principal: str, held: Iterable[HeldRole], entries: Mapping[str, RoleEntry]
) -> str | None:
    """Why `principal` may not do `action` (a key of NEEDS); None when they may."""
    if not in_force(entries):
        return None
    held = list(held)
    permissions = permissions_of(held, entries)
    needed = NEEDS[action]
    if permissions.intersection(needed):
        return None
    roles = ", ".join(sorted({h.role for h in held})) or "none"
    givers = [role.id for role in all_roles(entries) if set(role.permissions).intersection(needed)]
    return (
        f"{principal} may not {_WORDS[action]}: it needs the permission "
        f"{' or '.join(needed)} (their roles: {roles}; roles that give it: "
        f"{', '.join(givers)}); ask someone who manages roles (`idsync user grant`)"
    )


def job_action(principal: str, owners: Iterable[str], stored: bool, any_action: str) -> str:
    """Which NEEDS key a change (or run) of a job is: its own, or any job's."""
    mine = any(same(principal, owner) for owner in owners)
    kind = any_action.removesuffix("-any")
    if not stored:
        return "job-create"
    return f"{kind}-own" if mine else any_action


def grant_problem(
    role_id: str, grantee: str, entries: Mapping[str, RoleEntry], granting: bool
) -> str | None:
    """Why this grant (or revoke) cannot be made; None when it can."""
    if definition(role_id, entries) is None:
        return f"no role {role_id!r}: `idsync role list` shows them"
    held = entries.get(role_id, RoleEntry()).grantees
    if granting:
        if not in_force(entries) and role_id != ADMINISTRATOR:
            return (
                "no role is granted yet: grant administrator to someone first (`idsync user "
                f"grant YOU {ADMINISTRATOR}`), or nobody could manage roles afterwards"
            )
        return None
    if not any(same(grantee, g) for g in held):
        return f"{grantee} does not hold role {role_id} directly (`idsync role show {role_id}`)"
    if role_id == ADMINISTRATOR and len(held) == 1:
        return "the last administrator cannot be revoked: grant administrator to another first"
    return None


def with_grant(entry: RoleEntry | None, grantee: str, granting: bool) -> list[str]:
    held = list(entry.grantees) if entry is not None else []
    if granting:
        return held if any(same(grantee, g) for g in held) else [*held, grantee]
    return [g for g in held if not same(grantee, g)]


def role_problem(role: Role) -> str | None:
    """Why a role definition cannot be applied; None when it can."""
    if not is_slug(role.id):
        return f"role {role.id!r}: an id is a slug (a-z, 0-9, _ and -)"
    if role.id == ADMINISTRATOR and (
        set(role.permissions) != set(PERMISSIONS) or role.policy is not None
    ):
        return "role administrator ships with idsync and may not be narrowed"
    return None
