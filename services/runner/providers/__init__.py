"""The provider registry: one module per `connection.provider` tag.

`open_provider` checks that the endpoint names what the provider needs before any
file or database is touched, so a job file with a missing `file:` or `table:` fails
with a message naming the provider and the setting to add.
"""

from __future__ import annotations

from typing import assert_never

from core.errors import BadInput
from schemas.connections import (
    ActiveDirectoryConnection,
    Connection,
    CsvConnection,
    LdapConnection,
    PluginConnection,
    SqliteConnection,
)
from schemas.jobs import Endpoint

from .base import Layout, Outcome, Provider, ProviderFactory
from .capability_table import capabilities

__all__ = ["Layout", "Outcome", "Provider", "ProviderFactory", "capabilities", "open_provider"]


def open_provider(connection: Connection, endpoint: Endpoint, layout: Layout) -> Provider:
    """The provider for one side of a job (not opened yet: call `open` next)."""
    where = f"connection {endpoint.connection!r}"
    match connection:
        case CsvConnection():
            from .csvfile import CsvProvider

            if not endpoint.file:
                raise BadInput(f"csv ({where}): the endpoint needs `file:`, e.g. people.csv")
            return CsvProvider(connection, endpoint, layout)
        case SqliteConnection():
            from .sqlite import SqliteProvider

            if not endpoint.table:
                raise BadInput(f"sqlite ({where}): the endpoint needs `table:`, e.g. people")
            return SqliteProvider(connection, endpoint, layout)
        case PluginConnection():
            from .plugin import open_plugin

            return open_plugin(connection, endpoint, layout)
        case ActiveDirectoryConnection():  # before LdapConnection, which it extends
            from .ad import AdProvider

            if not endpoint.container:
                example = "OU=People,DC=example,DC=org"
                raise BadInput(f"ad ({where}): the endpoint needs `container:`, e.g. {example}")
            return AdProvider(connection, endpoint, layout)
        case LdapConnection():
            from .ldap import LdapProvider

            if not endpoint.container:
                example = "ou=People,dc=example,dc=org"
                raise BadInput(f"ldap ({where}): the endpoint needs `container:`, e.g. {example}")
            return LdapProvider(connection, endpoint, layout)
        case _:
            assert_never(connection)
