"""What an LDAP (or Active Directory) connection and side must say that decoding cannot
check (pure): URLs and TLS that agree, a password with a bind DN, sizes and timeouts in
range, a base DN for every side."""

from __future__ import annotations

from urllib.parse import urlsplit

from core.checks.facts import Problem
from core.words import got
from schemas.connections import ActiveDirectoryConnection, Connection, LdapConnection
from schemas.jobs import Endpoint


def check_connection(conn: Connection) -> list[Problem]:
    """The facts' connection check: an LDAP or Active Directory connection's problems."""
    return check_ldap_connection(conn) if isinstance(conn, LdapConnection) else []


def check_ldap_connection(conn: LdapConnection) -> list[Problem]:
    problems: list[Problem] = []
    if not conn.urls:
        problems.append(("urls", 'expected at least one URL such as "ldap://ldap.example.org"'))
    for i, url in enumerate(conn.urls):
        parts = urlsplit(url)
        if parts.scheme not in ("ldap", "ldaps") or not parts.hostname:
            problems.append(
                (f"urls[{i}]", f'expected "ldap://host[:port]" or "ldaps://…", got {url!r}')
            )
            continue
        if parts.scheme == "ldaps" and conn.tls != "ldaps":
            problems.append(("tls", f'expected "ldaps" for {url}, got {conn.tls!r}'))
        elif parts.scheme == "ldap" and conn.tls == "ldaps":
            problems.append(
                (f"urls[{i}]", f'expected an ldaps:// URL with tls = "ldaps", got {url!r}')
            )
    if conn.password is not None and not conn.bind_dn:
        problems.append(("bind_dn", "expected the DN to bind as with the password, got nothing"))
    if conn.bind_dn and conn.password is None:
        text = 'expected { env = "VAR" } or { file = "path" } to bind as ' + conn.bind_dn
        problems.append(("password", f"{text}, got nothing"))
    if conn.ca_file and conn.tls == "none":
        problems.append(("tls", 'expected "starttls" or "ldaps" with ca_file, got "none"'))
    if isinstance(conn, ActiveDirectoryConnection) and conn.tls == "none":
        text = "Active Directory takes binds and passwords over TLS only"
        problems.append(("tls", f'expected "ldaps" or "starttls" ({text}), got "none"'))
    if not 1 <= conn.page_size <= 100_000:
        problems.append(("page_size", f"expected 1 to 100000 entries, got {conn.page_size}"))
    if not 1 <= conn.pool_size <= 32:
        problems.append(("pool_size", f"expected 1 to 32 connections, got {conn.pool_size}"))
    for name in ("connect", "operation"):
        if getattr(conn.timeouts, name) <= 0:
            value = getattr(conn.timeouts, name)
            problems.append((f"timeouts.{name}", f"expected seconds over 0, got {value}"))
    return problems


def check_endpoint(endpoint: Endpoint) -> list[Problem]:
    if endpoint.container:
        return []
    example = '"ou=People,dc=example,dc=org"'
    return [("container", f"expected a base DN such as {example}, got {got(endpoint.container)}")]
