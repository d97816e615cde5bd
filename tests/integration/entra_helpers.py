"""Helpers for the Entra tests: a connection to a tenant of the tests' Graph, as TOML and
as a struct, and providers on it."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from schemas.connections import EntraConnection, EntraLimits, SecretRef
from schemas.jobs import Endpoint
from services.providers import open_provider
from services.providers.base import Layout, Provider
from tests.graph_server import Tenant


def secret_of(folder: Path, tenant: Tenant) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "entra-secret"
    path.write_text(tenant.seeder["secret"] + "\n")
    return path


def connection_toml(folder: Path, tenant: Tenant, name: str = "cloud", extra: str = "") -> str:
    server = tenant.server
    return f"""[{name}]
provider = "entra"
tenant = "{tenant.domain}"
client_id = "{tenant.seeder["client_id"]}"
secret = {{ file = "{secret_of(folder, tenant)}" }}
authority = "{server.url}"     # the tests' Graph signs apps in too
graph = "{server.url}"
ca_file = "{server.ca_file}"
{extra}
"""


def connection(folder: Path, graph_tenant: Tenant, **fields: Any) -> EntraConnection:
    server = graph_tenant.server
    given: dict[str, Any] = {
        "id": "cloud",
        "tenant": graph_tenant.domain,
        "client_id": graph_tenant.seeder["client_id"],
        "secret": SecretRef(file=str(secret_of(folder, graph_tenant))),
        "authority": server.url,
        "graph": server.url,
        "ca_file": str(server.ca_file),
        "limits": EntraLimits(attempts=4),
    }
    given.update(fields)
    return EntraConnection(**given)


async def side(
    conn: EntraConnection, layout: Layout, *, write: bool = True, **endpoint: Any
) -> Provider:
    provider = open_provider(conn, Endpoint(connection=conn.id, **endpoint), layout)
    await provider.open(write=write)
    return provider


def user(tenant: Tenant, key: str, **more: Any) -> dict[str, Any]:
    """A user as Graph takes it, made natively (not through the provider)."""
    body: dict[str, Any] = {
        "accountEnabled": True,
        "displayName": f"User {key}",
        "mailNickname": key.lower(),
        "userPrincipalName": f"{key.lower()}@{tenant.domain}",
        "employeeId": key,
        "passwordProfile": {"password": "Seed-Pa55word!"},
        **more,
    }
    created: dict[str, Any] = tenant.graph("POST", "users", body)
    return created
