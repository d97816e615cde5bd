"""What an Entra connection and side must say that decoding cannot check (pure): one
credential, https addresses, limits in range, a side of users or of groups; and what a
new user or group needs."""

from __future__ import annotations

from urllib.parse import urlsplit

from core.checks.facts import Problem
from core.words import got
from schemas.connections import Connection, EntraConnection
from schemas.jobs import Endpoint, ObjectMapping

from .values import GROUP, READ_ONLY, USER

KINDS = (USER, GROUP)


def kind_of(endpoint: Endpoint, object_type: str | None = None) -> str:
    """users or groups: the side's object_classes (["group"]), else the mapping's type."""
    classes = [c.lower() for c in endpoint.object_classes or ()]
    if classes:
        return GROUP if GROUP in classes else USER
    return GROUP if object_type == GROUP else USER


def has_accounts(endpoint: Endpoint, mapping: ObjectMapping) -> bool:
    """Users have `accountEnabled` to disable and enable; groups have none."""
    return kind_of(endpoint, mapping.type) == USER


def check_connection(conn: Connection) -> list[Problem]:
    if not isinstance(conn, EntraConnection):
        return []
    problems: list[Problem] = []
    for name in ("tenant", "client_id"):
        if not getattr(conn, name).strip():
            problems.append(
                (name, f"expected the app registration's {name.replace('_', ' ')}, got nothing")
            )
    if (conn.secret is None) == (conn.certificate is None):
        text = 'expected one of secret = { env = "VAR" } or certificate = { file = "app.pem" }'
        given = "both" if conn.secret is not None else "neither"
        problems.append(("secret", f"{text}, got {given}"))
    for name in ("authority", "graph"):
        url = getattr(conn, name)
        parts = urlsplit(url)
        if parts.scheme != "https" or not parts.hostname:
            problems.append(
                (
                    name,
                    'expected an https:// address such as "https://graph.microsoft.com", '
                    f"got {url!r}",
                )
            )
    if not 1 <= conn.page_size <= 999:
        problems.append(
            ("page_size", f"expected 1 to 999 objects (Graph's limits), got {conn.page_size}")
        )
    limits = conn.limits
    for name in ("writes_per_second", "requests_per_second", "timeout"):
        if getattr(limits, name) <= 0:
            problems.append(
                (f"limits.{name}", f"expected a number over 0, got {getattr(limits, name)}")
            )
    if not 1 <= limits.concurrency <= 64:
        problems.append(
            ("limits.concurrency", f"expected 1 to 64 requests, got {limits.concurrency}")
        )
    if not 1 <= limits.attempts <= 100:
        problems.append(("limits.attempts", f"expected 1 to 100 tries, got {limits.attempts}"))
    if not conn.member_key.strip():
        problems.append(
            ("member_key", "expected a user property such as userPrincipalName, got nothing")
        )
    return problems


def check_endpoint(endpoint: Endpoint) -> list[Problem]:
    classes = [c.lower() for c in endpoint.object_classes or ()]
    if len(classes) > 1 or (classes and classes[0] not in KINDS):
        return [
            (
                "object_classes",
                'expected ["user"] or ["group"], got '
                + got(", ".join(endpoint.object_classes or [])),
            )
        ]
    if endpoint.container:
        return [
            (
                "container",
                "expected nothing: Entra ID has no containers (a side is scoped by query, a "
                f"Graph $filter), got {got(endpoint.container)}",
            )
        ]
    return []


def mandatory_fields(endpoint: Endpoint, mapping: ObjectMapping) -> frozenset[str]:
    """What Graph requires of a new object that the provider does not make itself
    (accountEnabled, mailNickname, a password and a group's kind have defaults)."""
    if kind_of(endpoint, mapping.type) == GROUP:
        return frozenset({"displayName"})
    return frozenset({"displayName", "userPrincipalName"})


def read_only_fields(endpoint: Endpoint, mapping: ObjectMapping) -> frozenset[str]:
    """What Graph sets itself and refuses from an app (400 "Property … is read-only"): the
    addresses Exchange derives (proxyAddresses), ids and dates, a group's mail."""
    fields = {name for name in READ_ONLY if "@" not in name}
    if kind_of(endpoint, mapping.type) == GROUP:
        fields.add("mail")
    return frozenset(fields)
