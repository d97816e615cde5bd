"""Reading a SCIM resource type page by page: every resource, or a failure — never a
read that stops short and leaves the resources after it looking absent."""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from typing import Any

import msgspec
import pytest

from core.errors import Transient
from services.providers.scim.messages import ResourceType
from services.providers.scim.read import pages

USERS = ResourceType(name="User", endpoint="/Users", schema="urn:x")


class Service:
    """Answers `GET /Users` from its resources, at most `most` a page; `empty_at`: the
    startIndex at which it answers a page with no resources (yet the same total)."""

    def __init__(self, count: int, most: int, empty_at: int | None = None, total: int = 0):
        self.resources = [{"id": f"u{n}"} for n in range(1, count + 1)]
        self.most, self.empty_at = most, empty_at
        self.total = total or count  # below 0: the service leaves totalResults out

    async def get_json(self, path: str, params: Mapping[str, str | int] | None = None) -> bytes:
        assert path == "/Users" and params is not None
        start, count = int(params["startIndex"]), int(params["count"])
        found = self.resources[start - 1 : start - 1 + min(count, self.most)]
        if start == self.empty_at:
            found = []
        answer: dict[str, Any] = {"startIndex": start}
        if self.total >= 0:
            answer["totalResults"] = self.total
        answer["Resources"] = found
        return msgspec.json.encode(answer)


def read(service: Service, count: int = 10) -> list[str]:
    async def every() -> list[str]:
        found: list[str] = []
        async for page in pages(service, USERS, count, None, None):  # type: ignore[arg-type]
            found += [resource["id"] for resource in page]
        return found

    return asyncio.run(every())


def test_a_service_answering_fewer_than_asked_is_read_on_to_the_end() -> None:
    assert read(Service(7, most=3)) == [f"u{n}" for n in range(1, 8)]


def test_an_empty_page_before_the_total_fails_the_read() -> None:
    # The service says it holds 7 and gives none from the 4th: the 4 unread would be
    # taken for absent.
    with pytest.raises(Transient, match=r"7 resources.*none from index 4"):
        read(Service(7, most=3, empty_at=4))


def test_a_total_that_shrinks_while_reading_fails_the_read() -> None:
    # Resources deleted while paging: the page past the new total is empty. The read
    # cannot tell whether they were deleted ahead of it or behind it (see below).
    service = Service(7, most=3, empty_at=4, total=7)

    async def shrunk(path: str, params: Mapping[str, str | int] | None = None) -> bytes:
        assert params is not None
        if int(params["startIndex"]) == 4:
            return msgspec.json.encode({"totalResults": 3, "Resources": []})
        return await Service.get_json(service, path, params)

    service.get_json = shrunk  # type: ignore[method-assign]
    with pytest.raises(Transient, match=r"from 7 to 3 resources while it was read"):
        read(service)


def test_a_resource_deleted_behind_the_read_does_not_hide_the_one_after_it() -> None:
    # u1 is deleted once the first page (u1 to u3) is read: u4 moves to index 3, and the
    # page from index 4 starts at u5. Ending there would take u4 for absent.
    service = Service(7, most=3)
    answer = Service.get_json

    async def deleting(path: str, params: Mapping[str, str | int] | None = None) -> bytes:
        assert params is not None
        if int(params["startIndex"]) == 4 and service.resources[0]["id"] == "u1":
            del service.resources[0]
            service.total -= 1
        return await answer(service, path, params)

    service.get_json = deleting  # type: ignore[method-assign]
    with pytest.raises(Transient, match=r"from 7 to 6 resources while it was read"):
        read(service)


def test_a_service_that_gives_no_total_is_read_until_it_answers_none() -> None:
    # totalResults is required (RFC 7644), yet a service leaving it out must not have
    # every resource after its first page taken for absent.
    assert read(Service(7, most=3, total=-1)) == [f"u{n}" for n in range(1, 8)]


@pytest.mark.parametrize(
    "answer",
    [
        b"{}",
        b'{"schemas": ["urn:ietf:params:scim:api:messages:2.0:Error"], "status": "503"}',
        b"<html>Service Unavailable</html>",
        b"",
    ],
    ids=["empty object", "an error", "a gateway page", "no body"],
)
def test_an_answer_that_is_no_list_response_fails_the_read(answer: bytes) -> None:
    # Served with 200 by a gateway (or a service wording an error so): taken for a page
    # with no resources, it would end the read, every resource after it taken for absent.
    service = Service(7, most=3)

    async def broken(path: str, params: Mapping[str, str | int] | None = None) -> bytes:
        assert params is not None
        if int(params["startIndex"]) == 4:
            return answer
        return await Service.get_json(service, path, params)

    service.get_json = broken  # type: ignore[method-assign]
    with pytest.raises(Transient, match=r"GET /Users: the answer from index 4 is no list"):
        read(service)


def test_a_full_last_page_is_followed_by_one_more_question() -> None:
    # A service whose totalResults counts its page alone (3, every time): ending where
    # that total says would take every resource after the first page for absent. A full
    # page is followed by one more question; the read ends at a page that is not full.
    assert read(Service(7, most=3, total=3), count=3) == [f"u{n}" for n in range(1, 8)]
    # A true total of full pages: the question after them finds none, and the read ends.
    assert read(Service(6, most=3), count=3) == [f"u{n}" for n in range(1, 7)]


def test_a_total_that_counts_each_page_alone_is_not_taken_for_a_shrinking_one() -> None:
    # totalResults 3, 3, then 1: the resources from index 4 already show that it counts
    # something else than the service's resources; the read goes on to a page with none.
    service = Service(7, most=3)
    answer = Service.get_json

    async def counting_pages(path: str, params: Mapping[str, str | int] | None = None) -> bytes:
        page = msgspec.json.decode(await answer(service, path, params))
        page["totalResults"] = len(page["Resources"])
        return msgspec.json.encode(page)

    service.get_json = counting_pages  # type: ignore[method-assign]
    assert read(service, count=3) == [f"u{n}" for n in range(1, 8)]
