"""Signing in against a directory connection: one simple bind as the person, nothing read.

The connection (ldap or ad) gives the servers and TLS; IDSYNC_PORTAL_LDAP_USER the name
bound as, `{user}` replaced by the name typed (escaped for a DN). An empty password is
never tried: LDAP takes it for an unauthenticated bind, which succeeds.
"""

from __future__ import annotations

import asyncio
import ssl

import ldap3
from ldap3.core.exceptions import LDAPException
from ldap3.utils.dn import escape_rdn

from core.errors import BadInput
from schemas.connections import Connection, LdapConnection


async def bind_as(connection: Connection, pattern: str, user: str, password: str) -> bool:
    if not isinstance(connection, LdapConnection):
        raise BadInput(
            f"IDSYNC_PORTAL_LDAP names connection {connection.id!r}, which is no directory "
            "(provider ldap or ad)"
        )
    if not password:
        return False
    name = pattern.replace("{user}", escape_rdn(user) if "=" in pattern else user)
    return await asyncio.to_thread(_bind, connection, name, password)


def _bind(connection: LdapConnection, name: str, password: str) -> bool:
    tls = None
    if connection.tls != "none":
        tls = ldap3.Tls(
            validate=ssl.CERT_REQUIRED if connection.verify else ssl.CERT_NONE,
            ca_certs_file=connection.ca_file,
        )
    for url in connection.urls:
        server = ldap3.Server(
            url,
            use_ssl=connection.tls == "ldaps",
            tls=tls,
            connect_timeout=connection.timeouts.connect,
        )
        link = ldap3.Connection(
            server,
            user=name,
            password=password,
            receive_timeout=int(connection.timeouts.operation),
        )
        try:
            link.open()
            if connection.tls == "starttls":
                link.start_tls()
            return bool(link.bind())
        except LDAPException:
            continue  # not reachable: the next server
        finally:
            link.unbind()
    return False
