"""Active Directory's kinds of objects, as the checks of jobs ask of them (pure: no
client library is imported here, the registry reads it)."""

from __future__ import annotations

from schemas.jobs import Endpoint, ObjectMapping

AD_CLASSES: dict[str, tuple[str, ...]] = {
    "user": ("user",),
    "contact": ("contact",),
    "group": ("group",),
    "container": ("organizationalUnit",),
}
"""Classes of new objects by the object mapping's `type` when the job names none."""
NO_ACCOUNT = frozenset({"contact", "group", "organizationalunit", "container", "top"})
"""Classes without a userAccountControl: objects of these alone cannot be disabled."""


def has_accounts(endpoint: Endpoint, mapping: ObjectMapping) -> bool:
    """Whether a type's objects are accounts (userAccountControl: disabled and enabled)
    by their classes (a user, an inetOrgPerson, a computer): not contacts, groups or OUs.
    Classes not known (none, or others) are not refused."""
    classes = {c.lower() for c in endpoint.object_classes or AD_CLASSES.get(mapping.type, ())}
    return not (classes and classes <= NO_ACCOUNT)
