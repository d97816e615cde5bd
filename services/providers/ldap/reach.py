"""Can an LDAP (or Active Directory) connection be reached: a server answers and the
bind succeeds?"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence

from schemas.connections import LdapConnection

from .connection import connect


async def reach(connection: LdapConnection, writers: Sequence[str]) -> str:
    session = await asyncio.to_thread(connect, connection)
    try:
        return f"{session.url} answered; bound as {connection.bind_dn or 'anonymous'}"
    finally:
        await asyncio.to_thread(session.close)
