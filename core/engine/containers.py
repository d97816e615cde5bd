"""Containers: where new objects go, and how deep an object sits in a directory tree.

A job names the container of new objects either fixed (`ObjectMapping.container`) or
per record from a *source* field (`container_from`). Mapping shapes a record into the
destination's fields, so that source value would be lost on the way: the runner carries
it in the mapped record under the reserved name `CONTAINER_FIELD` (`with_container`),
which is never a destination field and is never written or compared.
"""

from __future__ import annotations

from schemas.jobs import ObjectMapping
from schemas.values import Record

CONTAINER_FIELD = "@container"
"""The mapped record's container for a create ("@" starts no LDAP attribute or SQL column)."""


def with_container(mapped: Record, source: Record, mapping: ObjectMapping) -> Record:
    """`mapped` plus the container its source record names, when the job takes containers
    from a source field; `mapped` itself otherwise. Text, or a list of exactly one text."""
    if mapping.container_from is None:
        return mapped
    value = source.get(mapping.container_from)
    if isinstance(value, list) and len(value) == 1:
        value = value[0]
    if not isinstance(value, str) or not value.strip():
        return mapped  # planned without one: the planner warns, naming the record
    return {**mapped, CONTAINER_FIELD: value}


def container_of(record: Record, mapping: ObjectMapping) -> str | None:
    """Where a new object goes: the record's own container (from `container_from`) first,
    then the job's fixed `container`; None leaves it to the provider (its scope)."""
    value = record.get(CONTAINER_FIELD)
    if isinstance(value, str):
        return value
    return mapping.container


def dn_depth(text: str | None) -> int:
    """The number of RDNs when `text` reads as a DN ("cn=a,ou=b,dc=c" → 3); 0 otherwise.

    Enough to order a plan (children before parents), not a DN parser: an escaped comma
    (`\\,`) does not separate RDNs, and the first RDN must look like `attribute=value`.
    """
    if not text or "=" not in text:  # most keys (ids, logins): no DN, nothing to count
        return 0
    head = text.split(",", 1)[0]
    name, equals, _ = head.partition("=")
    if not equals or not name.strip() or not name.strip().replace("-", "").isalnum():
        return 0
    depth, escaped = 1, False
    for char in text:
        if escaped:
            escaped = False
        elif char == "\\":
            escaped = True
        elif char == ",":
            depth += 1
    return depth
