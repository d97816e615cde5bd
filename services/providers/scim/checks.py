"""What a SCIM connection and side must say that decoding cannot check (pure): an http(s)
URL, one way to authenticate, sizes in range, one resource type per side, and the fields a new
resource requires."""

from __future__ import annotations

from urllib.parse import urlsplit

from core.checks.facts import Problem
from schemas.connections import Connection, ScimConnection
from schemas.jobs import Endpoint, ObjectMapping


def check_connection(conn: Connection) -> list[Problem]:
    if not isinstance(conn, ScimConnection):
        return []
    problems: list[Problem] = []
    parts = urlsplit(conn.url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        example = '"https://example.org/scim/v2"'
        problems.append(
            ("url", f"expected the service's base URL such as {example}, got {conn.url!r}")
        )
    if conn.token is not None and conn.oauth is not None:
        problems.append(("oauth", "expected a token or oauth, not both"))
    if conn.ca_file and parts.scheme == "http":
        problems.append(("ca_file", f"expected an https:// url with ca_file, got {conn.url!r}"))
    for name, low, high in (("page_size", 1, 10_000), ("concurrency", 1, 64)):
        value = getattr(conn, name)
        if not low <= value <= high:
            problems.append((name, f"expected {low} to {high}, got {value}"))
    for name in ("timeout", "max_wait"):
        if getattr(conn, name) <= 0:
            problems.append((name, f"expected seconds over 0, got {getattr(conn, name)}"))
    rate = conn.requests_per_second
    if rate is not None and not 0 < rate <= 100_000:
        problems.append(
            ("requests_per_second", f"expected a number over 0 (up to 100000), got {rate}")
        )
    return problems


def check_endpoint(endpoint: Endpoint) -> list[Problem]:
    classes = endpoint.object_classes
    if classes is not None and len(classes) != 1:
        return [("object_classes", f'expected one resource type such as ["Group"], got {classes}')]
    return []


def has_accounts(endpoint: Endpoint, mapping: ObjectMapping) -> bool:
    """Users have `active` to disable and enable; groups (any other type) have none."""
    return (endpoint.object_classes or ["User"])[0].lower() == "user"


def mandatory_fields(endpoint: Endpoint, mapping: ObjectMapping) -> frozenset[str]:
    """What RFC 7643 requires of a new resource of the standard types."""
    kind = (endpoint.object_classes or ["User"])[0].lower()
    required = {"user": "userName", "group": "displayName"}.get(kind)
    if required is None:
        return frozenset()
    named = {f.to for f in mapping.fields} | set(mapping.keys)
    if any(n.lower() == required.lower() for n in named) or not mapping.fields:
        return frozenset()
    return frozenset({required})
