"""What each provider can do to a destination object, so a job asking for more is refused
when it is applied (`check_job`), not halfway through a run.

Every writable provider creates, updates and deletes; disabling and moving are what
directories add. A new provider lists its actions here.
"""

from __future__ import annotations

from schemas.plan import Action

BASIC: frozenset[Action] = frozenset({"create", "update", "delete"})
"""What every writable provider does (files and tables cannot disable or move a row)."""

CAPABILITIES: dict[str, frozenset[Action]] = {
    "csv": BASIC,
    "sqlite": BASIC,
    # Generic LDAP has no standard "disabled" attribute (AD and 389-DS each have their own).
    "ldap": BASIC | {"move"},
    # Active Directory: disable and enable = bits of userAccountControl (users).
    "ad": BASIC | {"move", "disable", "enable"},
}


def capabilities(provider: str) -> frozenset[Action]:
    """The actions the provider (a `connection.provider` tag) can apply; the basic ones
    for a provider not listed."""
    return CAPABILITIES.get(provider, BASIC)
