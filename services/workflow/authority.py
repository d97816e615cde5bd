"""What the workflow knows of roles when it answers a command: the roles bucket, the
groups of `users.json`, and the members of directory groups roles are granted to.

Directory groups (`directory:CONNECTION:GROUP`) are read from the connection (LDAP or
AD) at most every MEMBERS_FRESH seconds; a directory that does not answer gives its
groups no members (and is logged), so nobody gains a role by its silence.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

from core import roles as rules
from core.checks.policy import holder_problems
from schemas.connections import LdapConnection
from schemas.jobs import Job
from schemas.roles import DIRECTORY, HeldRole, RoleEntry
from services.common import roles as stored_roles
from services.common.bus import Bus
from services.common.logging import get_logger
from services.common.users import Users
from services.common.users import load as load_users

log = get_logger("idsync.workflow")
MEMBERS_FRESH = 30.0
_members: dict[str, tuple[float, list[str]]] = {}


@dataclass
class Authority:
    entries: dict[str, RoleEntry]
    users: Users
    directory: Mapping[str, list[str]] = field(default_factory=dict)

    @property
    def in_force(self) -> bool:
        return rules.in_force(self.entries)

    def held(self, principal: str) -> list[HeldRole]:
        person = self.users.people.get(principal)
        groups = person.groups if person is not None else []
        return rules.roles_of(principal, self.entries, groups, self.directory)

    def refusal(self, action: str, principal: str) -> str | None:
        return rules.refusal(action, principal, self.held(principal), self.entries)

    def job_problems(self, job: Job, holders: Iterable[str]) -> list[str]:
        """Every rule of the holders' policies the job breaks (none while roles are not
        in force)."""
        if not self.in_force:
            return []
        found: list[str] = []
        seen: set[str] = set()
        for holder in holders:
            if holder.casefold() in seen:
                continue
            seen.add(holder.casefold())
            found += holder_problems(job, holder, self.held(holder), self.entries)
        return found


async def authority(bus: Bus) -> Authority:
    entries = await stored_roles.entries(bus.js)
    users = load_users(bus.settings.home)
    wanted = {g for entry in entries.values() for g in entry.grantees if g.startswith(DIRECTORY)}
    directory = {grantee: await _directory_members(bus, grantee) for grantee in sorted(wanted)}
    return Authority(entries=entries, users=users, directory=directory)


async def _directory_members(bus: Bus, grantee: str) -> list[str]:
    now = time.monotonic()
    cached = _members.get(grantee)
    if cached is not None and now - cached[0] < MEMBERS_FRESH:
        return cached[1]
    connection_id, _, group = grantee.removeprefix(DIRECTORY).partition(":")
    found: list[str] = []
    try:
        connection = await bus.store.connection(connection_id)
        if not isinstance(connection, LdapConnection):
            raise TypeError(f"connection {connection_id} is no directory (ldap, ad)")
        from services.providers.ldap.members import group_members

        found = await asyncio.to_thread(group_members, connection, group)
    except Exception as error:  # unreachable, unknown: no members, said in the log
        log.warning("directory group not read", grantee=grantee, error=str(error))
    _members[grantee] = (now, found)
    return found


def forget_members() -> None:
    """Read directory groups afresh at the next command (a grant just changed)."""
    _members.clear()
