"""What the standard LDAP schema says of new entries (pure): the classes they get when a
job names none, and the attributes those classes require, so a job that would create
entries without them is refused when it is applied."""

from __future__ import annotations

from schemas.jobs import Endpoint, ObjectMapping

DEFAULT_CLASSES: dict[str, tuple[str, ...]] = {
    "user": ("inetOrgPerson",),
    "group": ("groupOfNames",),
    "container": ("organizationalUnit",),
}
"""Object classes of new entries, by the object mapping's `type`, when the job names none."""

# What the standard LDAP schema requires (RFC 4519, RFC 2798), beyond objectClass.
REQUIRED_BY_CLASS: dict[str, frozenset[str]] = {
    "person": frozenset({"cn", "sn"}),
    "organizationalPerson": frozenset({"cn", "sn"}),
    "inetOrgPerson": frozenset({"cn", "sn"}),
    "groupOfNames": frozenset({"cn"}),
    "groupOfUniqueNames": frozenset({"cn"}),
    "organizationalUnit": frozenset({"ou"}),
}


def mandatory_fields(endpoint: Endpoint, mapping: ObjectMapping) -> frozenset[str]:
    """What every created entry of `mapping` must have besides its keys: what its classes
    require, and the attribute that names it."""
    required: set[str] = set()
    classes = endpoint.object_classes or DEFAULT_CLASSES.get(mapping.type, ())
    for name in classes:
        required |= REQUIRED_BY_CLASS.get(name, frozenset())
    naming = endpoint.rdn_attribute or (mapping.keys[0] if mapping.keys else None)
    if naming is not None:  # a mapping without keys is refused on its own, naming the field
        required.add(naming)
    return frozenset(required)
