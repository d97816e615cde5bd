"""Fields a destination refuses to create an object without, by provider and object type,
so a job that would create objects without them is refused when it is applied."""

from __future__ import annotations

from schemas.connections import Connection, LdapConnection
from schemas.jobs import Endpoint, ObjectMapping

# What the standard LDAP schema requires (RFC 4519, RFC 2798), beyond objectClass.
REQUIRED_BY_CLASS: dict[str, frozenset[str]] = {
    "person": frozenset({"cn", "sn"}),
    "organizationalPerson": frozenset({"cn", "sn"}),
    "inetOrgPerson": frozenset({"cn", "sn"}),
    "groupOfNames": frozenset({"cn"}),
    "groupOfUniqueNames": frozenset({"cn"}),
    "organizationalUnit": frozenset({"ou"}),
}


def mandatory_fields(
    connection: Connection, endpoint: Endpoint, mapping: ObjectMapping
) -> set[str]:
    """The destination fields every created object of `mapping` must have."""
    required = set(mapping.keys)
    if isinstance(connection, LdapConnection):
        from .ldap import DEFAULT_CLASSES

        classes = endpoint.object_classes or DEFAULT_CLASSES.get(mapping.type, ())
        for name in classes:
            required |= REQUIRED_BY_CLASS.get(name, frozenset())
        required.add(endpoint.rdn_attribute or mapping.keys[0])
    return required
