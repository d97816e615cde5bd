"""The request-rate ceiling providers keep themselves (providers/pacing.py), on a
controlled clock: never more than the rate on average, a second's worth at once, paused
for everyone by a 429; and a SCIM connection's `requests_per_second` sends every request
through it."""

from __future__ import annotations

import asyncio

import httpx
import pytest

from schemas.connections import ScimConnection
from services.providers.pacing import SLACK, Pace, shared_pace
from services.providers.scim.checks import check_connection
from services.providers.scim.connection import Session


class Clock:
    """Time that passes only when someone sleeps."""

    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now

    async def sleep(self, seconds: float) -> None:
        self.now += seconds


def most_in_a_window(times: list[float], window: float) -> int:
    return max(sum(1 for t in times if start <= t < start + window) for start in times)


def test_bookings_at_one_instant_get_a_seconds_worth_then_one_each_interval() -> None:
    clock = Clock()
    pace = Pace(10.0, clock)
    waits = [pace.book(1) for _ in range(30)]
    assert waits[:11] == [0.0] * 11  # a second's worth (and the one due now) at once
    assert waits[11:14] == pytest.approx([0.1, 0.2, 0.3])
    assert waits[-1] == pytest.approx((30 - 11) / 10)


async def test_a_steady_caller_never_goes_over_the_ceiling() -> None:
    clock = Clock()
    pace = Pace(5.0, clock, clock.sleep)
    sent = []
    for _ in range(100):
        await pace.take()
        sent.append(clock.now)
    # After the first second's worth, 5 a second; no second ever holds more than
    # the rate plus the slack.
    assert most_in_a_window(sent, 1.0) <= 5 * (1 + SLACK) + 1
    assert most_in_a_window(sent[20:], 2.0) <= 2 * 5 + 1
    assert sent[-1] == pytest.approx((100 - 6) / 5)


async def test_a_quiet_spell_gives_back_only_a_seconds_worth() -> None:
    clock = Clock()
    pace = Pace(4.0, clock, clock.sleep)
    for _ in range(8):
        await pace.take()
    clock.now += 60.0  # nobody asked for a minute
    at_once = [pace.book(1) for _ in range(8)]
    assert at_once.count(0.0) == 5  # 4 a second: one second's worth (and one due now)


def test_a_pause_holds_every_booking_until_it_ends() -> None:
    clock = Clock()
    pace = Pace(100.0, clock)
    pace.pause(3.0)  # a 429 said Retry-After: 3
    assert pace.book(1) == pytest.approx(3.0)
    clock.now = 3.0
    assert pace.book(1) == 0.0


def test_one_pace_per_key_and_a_new_one_when_the_rate_changes() -> None:
    first = shared_pace(("test", "a"), 2.0)
    assert shared_pace(("test", "a"), 2.0) is first
    assert shared_pace(("test", "b"), 2.0) is not first
    assert shared_pace(("test", "a"), 3.0).rate == 3.0


async def test_a_scim_session_sends_each_request_through_the_ceiling(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    clock = Clock()
    sent: list[float] = []

    def answer(request: httpx.Request) -> httpx.Response:
        sent.append(clock.now)
        if len(sent) == 5:  # the service says to slow down once
            return httpx.Response(429, headers={"Retry-After": "2"})
        return httpx.Response(200, json={"Resources": []})

    connection = ScimConnection(id="pacing-test", url="http://scim.test/v2", requests_per_second=4)
    session = Session(connection)
    assert session.pace is not None and session.pace.rate == 4
    session.pace = Pace(4.0, clock, clock.sleep)
    await session.client.aclose()
    session.client = httpx.AsyncClient(transport=httpx.MockTransport(answer))
    real_sleep = asyncio.sleep

    async def controlled(seconds: float) -> None:  # the Retry-After wait, on the clock
        await clock.sleep(seconds)
        await real_sleep(0)

    monkeypatch.setattr(asyncio, "sleep", controlled)
    try:
        for _ in range(20):
            assert (await session.send("GET", "/Users")).status_code == 200
    finally:
        await session.close()
    assert len(sent) == 21  # the refused request sent again
    assert most_in_a_window(sent, 1.0) <= 4 * (1 + SLACK) + 1
    assert most_in_a_window(sent[8:], 2.0) <= 2 * 4 + 1
    # The request after the 429 went no sooner than its Retry-After.
    assert sent[5] - sent[4] >= 2.0


def test_a_ceiling_of_zero_or_below_is_refused() -> None:
    for rate in (0.0, -1.0):
        connection = ScimConnection(id="s", url="https://scim.test/v2", requests_per_second=rate)
        assert [name for name, _ in check_connection(connection)] == ["requests_per_second"]
    fine = ScimConnection(id="s", url="https://scim.test/v2", requests_per_second=0.5)
    assert check_connection(fine) == []
