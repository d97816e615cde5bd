"""What decoding a connection cannot see, by its provider's own rules (its facts'
`check_connection`: an LDAP URL's scheme, a CSV delimiter of one character, …)."""

from __future__ import annotations

from collections.abc import Iterable, Mapping

from core.errors import BadInput
from core.words import SLUG, show
from schemas.connections import Connection
from schemas.ids import is_slug

from .facts import ProviderFacts, facts_of


def check_connections(
    connections: Iterable[Connection], facts: Mapping[str, ProviderFacts], *, origin: str
) -> None:
    """Every problem of every connection at once, as one BadInput whose lines read
    `origin: [id].field: expected ..., got ...` (`origin`: the file they came from)."""
    problems = [
        f"{origin}: [{connection.id}].{field}: {text}"
        for connection in connections
        for field, text in facts_of(connection, facts).check_connection(connection)
    ]
    problems += [
        f"{origin}: [{connection.id}].site: expected {SLUG}, got {show(connection.site)}"
        for connection in connections
        if connection.site and not is_slug(connection.site)
    ]
    if problems:
        raise BadInput("\n".join(problems))
