"""What the workflow knows of roles when it answers a command (services/common/roles.py
`Authority`), with directory groups read afresh.

Directory groups (`directory:CONNECTION:GROUP`) are read from the connection (LDAP or
AD) at most every MEMBERS_FRESH seconds, and what was read is kept in the roles bucket
for the other services (the recorder asks who may read history). A directory that does
not answer gives its groups no members (and is logged): nobody gains a role by its
silence.
"""

from __future__ import annotations

import asyncio
import time

from schemas.connections import LdapConnection
from schemas.roles import DIRECTORY
from services.common import roles as stored_roles
from services.common.bus import Bus
from services.common.logging import get_logger
from services.common.roles import Authority

log = get_logger("idsync.workflow")
MEMBERS_FRESH = 30.0
_members: dict[str, tuple[float, list[str]]] = {}


async def authority(bus: Bus) -> Authority:
    known = await stored_roles.authority(bus.js, bus.settings.home)
    directory = dict(known.directory)
    for grantee in known.directory_grantees():
        directory[grantee] = await _directory_members(bus, grantee, directory.get(grantee))
    known.directory = directory
    return known


async def _directory_members(bus: Bus, grantee: str, stored: list[str] | None) -> list[str]:
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
    if sorted(found) != sorted(stored or []):
        await stored_roles.put_members(bus.js, grantee, found)
    return found


def forget_members() -> None:
    """Read directory groups afresh at the next command (a grant just changed)."""
    _members.clear()
