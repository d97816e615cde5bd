"""Does a job keep to the policy of the roles its owners hold? (pure)

A role's policy says which connections its holders' jobs may read from and write to,
which object types each action at the destination may touch, which destination fields
they may map, and the most their safety limits may let a run do. A job is checked
against the policy of each of its owners (and of the person applying it): an owner
holding a role that can make or run jobs without a policy is not limited; one whose
every such role has a policy must find one of them that allows the whole job. The
workflow asks this when a job is applied and when a run is asked for, so a policy
changed later stops the jobs that no longer keep to it.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from fnmatch import fnmatchcase

from core.engine.containers import follows_container
from schemas.jobs import Job
from schemas.roles import DestinationAction, HeldRole, Policy, RoleEntry

from ..roles import JOB_PERMISSIONS, definition


def _matches(value: str, patterns: Iterable[str]) -> bool:
    return any(fnmatchcase(value.casefold(), pattern.casefold()) for pattern in patterns)


def asked_actions(job: Job) -> list[tuple[DestinationAction, str, str]]:
    """(action, object type, where in the job) for every action the job may ask of its
    destination."""
    found: list[tuple[DestinationAction, str, str]] = []
    for number, mapping in enumerate(job.objects):
        where = f"$.objects[{number}]"
        if mapping.on_source_only == "create" or (
            mapping.leavers is not None and mapping.leavers.new == "create"
        ):
            found.append(("create", mapping.type, f"{where}.on_source_only"))
        if mapping.on_both == "update":
            found.append(("update", mapping.type, f"{where}.on_both"))
        if follows_container(mapping):
            found.append(("move", mapping.type, f"{where}.container_from"))
        if mapping.on_destination_only != "skip":
            found.append(
                (mapping.on_destination_only, mapping.type, f"{where}.on_destination_only")
            )
        if mapping.delete_after is not None:
            found.append(("delete", mapping.type, f"{where}.delete_after"))
        if mapping.leavers is not None:
            found.append((mapping.leavers.action, mapping.type, f"{where}.leavers.action"))
    return found


def policy_problems(job: Job, policy: Policy) -> list[str]:
    """Every rule of the policy the job breaks, as `$.path: …` lines."""
    problems: list[str] = []
    sides = (
        ("source", job.source.connection, policy.sources),
        ("destination", job.destination.connection, policy.destinations),
    )
    for side, connection, allowed in sides:
        if allowed is not None and not _matches(connection, allowed):
            problems.append(
                f"$.{side}.connection: {connection} is not among the {side}s allowed "
                f"({', '.join(allowed) or 'none'})"
            )
    if policy.object_types is not None:
        seen: set[tuple[str, str]] = set()
        for action, kind, where in asked_actions(job):
            allowed_types = policy.object_types.get(action)
            if allowed_types is None or (action, kind) in seen:
                continue
            seen.add((action, kind))
            if not _matches(kind, allowed_types):
                problems.append(
                    f"{where}: may not {action} objects of type {kind} (types allowed to "
                    f"{action}: {', '.join(allowed_types) or 'none'})"
                )
    for number, mapping in enumerate(job.objects):
        for index, field in enumerate(mapping.fields):
            where = f"$.objects[{number}].fields[{index}].to"
            if _matches(field.to, policy.attributes_deny):
                problems.append(f"{where}: may not map destination field {field.to!r} (denied)")
            elif policy.attributes_allow is not None and not _matches(
                field.to, policy.attributes_allow
            ):
                problems.append(
                    f"{where}: may not map destination field {field.to!r} (allowed: "
                    f"{', '.join(policy.attributes_allow) or 'none'})"
                )
    ceiling = policy.safety
    if ceiling is not None:
        safety = job.safety
        if ceiling.max_count is not None and safety.max_count > ceiling.max_count:
            problems.append(
                f"$.safety.max_count: {safety.max_count} is over the ceiling of {ceiling.max_count}"
            )
        if ceiling.max_percent is not None and safety.max_percent > ceiling.max_percent:
            problems.append(
                f"$.safety.max_percent: {safety.max_percent:g} is over the ceiling of "
                f"{ceiling.max_percent:g}"
            )
        if not ceiling.allow_empty_source and safety.empty_source == "allow":
            problems.append('$.safety.empty_source: "allow" is not allowed (an empty source waits)')
    return problems


def holder_problems(
    job: Job, holder: str, held: Iterable[HeldRole], entries: Mapping[str, RoleEntry]
) -> list[str]:
    """Why the job breaks `holder`'s policy: empty when one of their job roles allows it
    (or has no policy, or they hold no job role at all)."""
    policies: list[tuple[str, Policy]] = []
    for one in held:
        role = definition(one.role, entries)
        if role is None or not JOB_PERMISSIONS.intersection(role.permissions):
            continue
        if role.policy is None:
            return []
        policies.append((role.id, role.policy))
    found: list[str] = []
    for role_id, policy in policies:
        problems = policy_problems(job, policy)
        if not problems:
            return []
        found += [f"{p} (policy of role {role_id}, held by {holder})" for p in problems]
    return found
