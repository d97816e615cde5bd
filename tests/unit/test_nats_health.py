"""What a service says of its NATS connection (services/common/nats_health.py), and the
pacing of pullers while JetStream refuses them (services/common/consumers.pace)."""

from __future__ import annotations

from typing import Any

import nats.errors
import nats.js.errors
import pytest

from services.common.consumers import PAUSE_MAX, pace
from services.common.nats_health import NatsHealth


def test_health_says_what_is_wrong_and_forgets_it_when_it_ends() -> None:
    health = NatsHealth()
    health.connected("nats://a:4222")
    assert health.problem is None
    health.disconnected()
    assert health.problem is not None and "no NATS server reachable" in health.problem
    health.jetstream_failed(TimeoutError())  # while away: not a second story
    health.connected("nats://b:4222")
    assert health.problem is None and health.connected_to == "nats://b:4222"
    health.jetstream_failed(nats.js.errors.ServiceUnavailableError())
    assert health.problem is not None and "lost its quorum" in health.problem
    health.jetstream_answered()
    assert health.problem is None


class Refusing:
    """A pull subscription whose fetches JetStream refuses at once (no quorum)."""

    def __init__(self, refusals: int) -> None:
        self.refusals = refusals
        self.calls = 0

    async def fetch(self, batch: int = 1, timeout: float = 5) -> list[Any]:
        self.calls += 1
        if self.calls <= self.refusals:
            raise nats.js.errors.ServiceUnavailableError()
        return ["message"]


class Subscriber:
    def __init__(self, subscription: Refusing) -> None:
        self.subscription = subscription


async def test_a_refused_fetch_waits_longer_each_time_and_not_at_all_once_answered(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    slept: list[float] = []

    async def sleep(seconds: float) -> None:
        slept.append(seconds)

    monkeypatch.setattr("services.common.consumers.asyncio.sleep", sleep)
    subscription = Refusing(refusals=8)
    subscriber = Subscriber(subscription)
    pace(subscriber)
    pace(subscriber)  # paced once, however often asked
    for _ in range(8):
        with pytest.raises(nats.js.errors.ServiceUnavailableError):
            await subscription.fetch(1)
    assert await subscription.fetch(1) == ["message"]
    assert slept == [0.1, 0.2, 0.4, 0.8, 1.6, PAUSE_MAX, PAUSE_MAX, PAUSE_MAX]


async def test_an_idle_fetch_is_not_slowed(monkeypatch: pytest.MonkeyPatch) -> None:
    slept: list[float] = []

    async def sleep(seconds: float) -> None:
        slept.append(seconds)

    monkeypatch.setattr("services.common.consumers.asyncio.sleep", sleep)

    class Idle(Refusing):
        async def fetch(self, batch: int = 1, timeout: float = 5) -> list[Any]:
            raise nats.errors.TimeoutError

    subscription = Idle(0)
    pace(Subscriber(subscription))
    with pytest.raises(nats.errors.TimeoutError):
        await subscription.fetch(1)
    assert slept == []
