"""Who is in a directory group: the principals a role granted to `directory:CONN:GROUP`
holds it for (the workflow asks; blocking ldap3, call from a thread).

GROUP is a DN, or a name found as `(cn=NAME)` under the connection's server. A member
is named by the first RDN value of each `member` / `uniqueMember` DN (`uid=ada,ou=…`
is ada) and by each `memberUid`; principals are compared casefolded."""

from __future__ import annotations

import ldap3
from ldap3.abstract.entry import Entry
from ldap3.core.exceptions import LDAPException
from ldap3.utils.conv import escape_filter_chars
from ldap3.utils.dn import parse_dn

from core.errors import BadInput
from schemas.connections import LdapConnection

from .connection import connect

_ATTRIBUTES = ["member", "uniqueMember", "memberUid"]


def group_members(connection: LdapConnection, group: str) -> list[str]:
    session = connect(connection)
    try:
        conn = session.conn
        if "=" in group:
            conn.search(group, "(objectClass=*)", ldap3.BASE, attributes=_ATTRIBUTES)
        else:
            base = _naming_context(conn)
            wanted = f"(cn={escape_filter_chars(group)})"
            conn.search(base, wanted, ldap3.SUBTREE, attributes=_ATTRIBUTES, size_limit=2)
        entries = list(conn.entries)
        if not entries:
            raise BadInput(f"ldap connection {connection.id!r}: no group {group!r}")
        found: list[str] = []
        for attribute in ("member", "uniqueMember"):
            for dn in _values(entries[0], attribute):
                try:
                    found.append(str(parse_dn(dn)[0][1]))
                except (IndexError, ValueError, LDAPException):
                    continue  # not a DN: nobody
        found += _values(entries[0], "memberUid")
        return sorted(set(found))
    finally:
        session.close()


def _values(entry: Entry, attribute: str) -> list[str]:
    if attribute not in entry.entry_attributes:
        return []
    return [str(v) for v in entry[attribute].values]


def _naming_context(conn: ldap3.Connection) -> str:
    conn.search("", "(objectClass=*)", ldap3.BASE, attributes=["namingContexts"])
    if conn.entries and "namingContexts" in conn.entries[0].entry_attributes:
        contexts = [str(v) for v in conn.entries[0]["namingContexts"].values]
        if contexts:
            return contexts[0]
    return ""
