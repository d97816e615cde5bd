"""`idsync connection test` on a SCIM connection: what the service says it supports
(/ServiceProviderConfig, /ResourceTypes, /Schemas) and how many resources of each type
the credentials see (`count=0`: no resource is read)."""

from __future__ import annotations

from collections.abc import Sequence

import msgspec

from schemas.connections import ScimConnection

from .connection import Session
from .discovery import discover
from .messages import ListResponse, ServiceProviderConfig


async def reach(connection: ScimConnection, writers: Sequence[str]) -> str:
    session = Session(connection)
    try:
        service = await discover(session, fresh=True)
        counts = []
        for kind in service.types.values():
            raw = await session.get_json(kind.endpoint, {"count": 0})
            total = msgspec.json.decode(raw, type=ListResponse).totalResults
            extensions = [_short(e.schema) for e in kind.schemaExtensions]
            more = f" (+{', '.join(extensions)})" if extensions else ""
            counts.append(f"{'?' if total is None else total} {kind.name}{more}")
    finally:
        await session.close()
    return f"{session.base}: {', '.join(counts)}; {supports(service.config, service.served)}"


def supports(config: ServiceProviderConfig, served: Sequence[str]) -> str:
    said = []
    if config.filter.supported:
        most = config.filter.maxResults
        said.append(f"filter (at most {most} a page)" if most else "filter")
    said.append("PATCH" if config.patch.supported else "no PATCH (full PUT)")
    if config.bulk.supported:
        said.append(f"bulk ({config.bulk.maxOperations} operations)")
    if config.etag.supported:
        said.append("ETags")
    if config.sort.supported:
        said.append("sort")
    missing = [n for n in ("ServiceProviderConfig", "ResourceTypes", "Schemas") if n not in served]
    told = f"; not served: {', '.join(missing)} (RFC 7643's defaults assumed)" if missing else ""
    return "supports " + ", ".join(said) + told


def _short(urn: str) -> str:
    """ "enterprise" for urn:ietf:params:scim:schemas:extension:enterprise:2.0:User."""
    parts = urn.split(":")
    if "extension" in parts[:-1]:
        return parts[parts.index("extension") + 1]
    return parts[-1]
