"""Reading a resource type page by page: `filter` (the side's `query`), `startIndex` and
`count` (the connection's page_size, at most the service's filter.maxResults), and
`attributes=` naming only what the job maps where it says."""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from typing import Any

import msgspec

from core.errors import Transient

from .connection import Session
from .messages import ListResponse, ResourceType


async def pages(
    session: Session,
    kind: ResourceType,
    count: int,
    query: str | None,
    attributes: Sequence[str] | None,
) -> AsyncIterator[list[dict[str, Any]]]:
    """Every resource in scope, a page at a time. A service that answers fewer than
    asked (its own limit) is read on from where its page ended; one that answers no
    resources before the total it gives is a failure (`Transient`): the resources not
    read would be taken for absent."""
    start = 1
    while True:
        params: dict[str, str | int] = {"startIndex": start, "count": count}
        if query:
            params["filter"] = query
        if attributes:
            params["attributes"] = ",".join(attributes)
        raw = await session.get_json(kind.endpoint, params)
        page = msgspec.json.decode(raw, type=ListResponse)
        if page.resources:
            yield page.resources
        if not page.resources and start <= page.totalResults:
            raise Transient(
                f"scim: GET {kind.endpoint}: the service holds {page.totalResults} "
                f"resources but answered none from index {start}; reading stopped short "
                "would take the resources not read for absent"
            )
        start += len(page.resources)
        if not page.resources or start > page.totalResults:
            return
