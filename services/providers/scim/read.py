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


class _Listed(msgspec.Struct, kw_only=True, rename={"resources": "Resources"}):
    """What tells a ListResponse from another answer: its total or its resources."""

    totalResults: int | None = None
    resources: list[dict[str, Any]] | None = None


def listed(raw: bytes, kind: ResourceType, start: int) -> ListResponse:
    """The ListResponse of a GET; an answer that is none (a gateway's page served with
    200, an empty body, an error worded as a success) is a failure (`Transient`): taken
    for a page with no resources, it would end the read."""
    try:
        page = msgspec.json.decode(raw, type=_Listed)
    except msgspec.DecodeError:
        page = _Listed()
    if page.totalResults is None and page.resources is None:
        shown = raw[:120].decode("utf-8", "replace") or "no body"
        raise Transient(
            f"scim: GET {kind.endpoint}: the answer from index {start} is no list of "
            f"resources ({shown}); reading stopped there would take the resources not "
            "read for absent"
        )
    return ListResponse(totalResults=page.totalResults, resources=page.resources or [])


async def pages(
    session: Session,
    kind: ResourceType,
    count: int,
    query: str | None,
    attributes: Sequence[str] | None,
) -> AsyncIterator[list[dict[str, Any]]]:
    """Every resource in scope, a page at a time. A service that answers fewer than
    asked (its own limit) is read on from where its page ended, to the total it gives
    (without one: to a page with none); one that answers no resources before that total
    is a failure (`Transient`): the resources not read would be taken for absent. So is
    a total that falls while the pages are read: a resource deleted behind the read
    moves those after it back a place, and the next page starts past one of them.
    A page as full as asked is followed by one more question, whatever the total: a
    service whose total counts its page alone would end the read after its first (the
    resources it gives past that total show it, and its totals are set aside)."""
    start = 1
    first: int | None = None  # the total the first page gave
    page_counts = False  # the service's totals are of its pages, not of its resources
    while True:
        params: dict[str, str | int] = {"startIndex": start, "count": count}
        if query:
            params["filter"] = query
        if attributes:
            params["attributes"] = ",".join(attributes)
        page = listed(await session.get_json(kind.endpoint, params), kind, start)
        total = None if page_counts else page.totalResults  # None: read to a page of none
        if total is not None and page.resources and start > total:
            page_counts = True  # resources past the total: it counts something else
            total = None
        if first is None:
            first = total
        elif total is not None and first is not None and total < first:
            raise Transient(
                f"scim: GET {kind.endpoint}: the service went from {first} to {total} "
                "resources while it was read; resources deleted behind the read would "
                "make it skip others, which would be taken for absent (the read is tried "
                "again later)"
            )
        if not page.resources:
            if total is not None and start <= total:
                raise Transient(
                    f"scim: GET {kind.endpoint}: the service holds {total} resources but "
                    f"answered none from index {start}; reading stopped short would take "
                    "the resources not read for absent"
                )
            return
        yield page.resources
        start += len(page.resources)
        full = len(page.resources) >= count  # more may follow whatever the total says
        if total is not None and start > total and not full:
            return
